"""Amplitude HTTP V2 (`POST /2/httpapi`): Amplitude's validation and response shapes, mapped to the catalogue."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from blindai_telemetry.collector.formats import FormatError, amplitude, blindai
from blindai_telemetry.stores.base import COLUMN_NAMES

INSTALL = "6f1d2c3b-4a59-4e68-9d7c-0b1a2f3e4d5c"
DEVICE = "C8F9E604-F01A-4BD9-95C6-8E5357DF265D"


def amp_event(**over: Any) -> dict[str, Any]:
    """An event as Amplitude's Python SDK serialises it for a catalogue event."""
    evt: dict[str, Any] = {
        "event_type": "model_run", "user_id": INSTALL, "device_id": DEVICE, "time": 1_764_323_400_001,
        "insert_id": "0b6f3f8e-6a0e-4c55-9d3e-1f9b0d0f2a11", "library": "amplitude-python/1.1.4",
        "app_version": "0.6.3", "os_name": "Linux", "os_version": "6.1.0-18-amd64",
        "user_properties": {"app": "blindai-server", "mode": "simulation", "arch": "x86_64", "cpu_count": 2,
                            "python_version": "3.11.7", "is_ci": False, "session_id": "c2a1-session"},
        "event_properties": {"model_name": "resnet50", "duration_ms": 12.5, "input_bytes": 1024, "ok": True,
                             "client_install_id": "a1b2c3d4-0000-4000-8000-000000000001"},
    }
    evt.update(over)
    return {k: v for k, v in evt.items() if v is not None}


def body(*events: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"api_key": "collector-key", "events": list(events), **top}


def refused(payload: Any) -> dict[str, Any]:
    with pytest.raises(FormatError) as info:
        amplitude.decode(payload)
    assert info.value.status == 400
    assert info.value.body["code"] == 400
    return info.value.body


def test_an_sdk_event_becomes_a_catalogue_row() -> None:
    decoded = amplitude.decode(body(amp_event()))
    row = decoded.rows[0]
    assert set(row) <= set(COLUMN_NAMES)
    assert (row["event"], row["install_id"], row["time"], row["source"]) == (
        "model_run", INSTALL, 1_764_323_400_001, "amplitude")
    assert (row["app"], row["app_version"], row["os_name"], row["os_release"]) == (
        "blindai-server", "0.6.3", "Linux", "6.1.0-18-amd64")
    assert (row["mode"], row["arch"], row["cpu_count"], row["is_ci"], row["session_id"]) == (
        "simulation", "x86_64", 2, False, "c2a1-session")
    assert (row["model_name"], row["duration_ms"], row["input_bytes"], row["ok"]) == ("resnet50", 12.5, 1024, True)
    assert row["client_install_id"] == "a1b2c3d4-0000-4000-8000-000000000001"
    assert decoded.dropped_fields == 1  # `library`: not a catalogue field


def test_fields_outside_the_catalogue_are_dropped_and_counted() -> None:
    evt = amp_event(platform="Linux", device_model="ThinkPad X1", country="France", event_id=23)
    evt["user_properties"]["email"] = "alice@example.com"
    evt["event_properties"]["prompt"] = "secret text"
    evt["event_properties"]["input_bytes"] = "a lot"  # wrong type for a catalogue field
    decoded = amplitude.decode(body(evt))
    text = json.dumps(decoded.rows)
    assert not any(s in text for s in ("ThinkPad", "France", "alice", "secret text", "a lot"))
    assert decoded.dropped_fields == 1 + 4 + 3


def test_a_property_not_allowed_for_the_event_is_dropped() -> None:
    evt = amp_event(event_type="server_started", event_properties={"model_name": "resnet50"})
    decoded = amplitude.decode(body(evt))
    assert "model_name" not in decoded.rows[0] and decoded.dropped_fields == 2


def test_the_ip_is_never_copied_anywhere() -> None:
    evts = [amp_event(ip="127.0.0.77"), amp_event(ip="127.0.0.77", insert_id=None)]
    decoded = amplitude.decode(body(*evts))
    assert "127.0.0.77" not in json.dumps(decoded.rows)
    without_ip = amplitude.decode(body(amp_event(insert_id=None)))
    assert decoded.rows[1]["event_id"] == without_ip.rows[0]["event_id"]  # not even hashed into the id


def test_the_install_id_is_user_id_else_device_id() -> None:
    assert amplitude.decode(body(amp_event(user_id=None))).rows[0]["install_id"] == DEVICE
    short_user = amplitude.decode(body(amp_event(user_id="abc")))  # too short: removed, as Amplitude does
    assert short_user.rows[0]["install_id"] == DEVICE


def test_min_id_length_lets_short_ids_through() -> None:
    decoded = amplitude.decode(body(amp_event(user_id="abc", device_id=None), options={"min_id_length": 3}))
    assert decoded.rows[0]["install_id"] == "abc"


@pytest.mark.parametrize(("sent", "stored"), [
    (1_764_323_400_001, 1_764_323_400_001),
    (1_764_323_400, 1_764_323_400_000),  # below 10^11: seconds
    (0, 0),
])
def test_time_is_ms_unless_below_ten_to_the_eleven(sent: int, stored: int) -> None:
    assert amplitude.decode(body(amp_event(time=sent))).rows[0]["time"] == stored


def test_a_variant_tagged_event_is_read_in_seconds() -> None:
    evt = amp_event(time=1_663_600_000, event_properties={"RunModel": {"time_taken": 0.031}})
    decoded = amplitude.decode(body(evt))
    assert decoded.rows[0]["time"] == 1_663_600_000_000
    assert decoded.dropped_fields == 2  # `library`, and the variant object, which is no catalogue field


def test_an_event_without_time_takes_the_time_it_was_received() -> None:
    before = int(time.time() * 1000)
    row = amplitude.decode(body(amp_event(time=None))).rows[0]
    assert before <= row["time"] <= int(time.time() * 1000)


def test_insert_id_deduplicates_per_device_as_amplitude_does() -> None:
    same = amplitude.decode(body(amp_event(), amp_event(event_properties={}))).rows
    assert same[0]["event_id"] == same[1]["event_id"]
    other_device = amplitude.decode(body(amp_event(device_id="F00DF00D-0000"))).rows[0]
    assert other_device["event_id"] != same[0]["event_id"]
    assert "0b6f3f8e-6a0e-4c55-9d3e-1f9b0d0f2a11" not in json.dumps(same)  # the raw insert_id is not stored


def test_without_insert_id_the_id_is_a_hash_of_the_content() -> None:
    evt = amp_event(insert_id=None)
    first = amplitude.decode(body(evt)).rows[0]["event_id"]
    assert amplitude.decode(body(evt)).rows[0]["event_id"] == first
    assert amplitude.decode(body(amp_event(insert_id=None, time=1_764_323_400_002))).rows[0]["event_id"] != first
    twice = amplitude.decode(body(evt, evt)).rows
    assert twice[0]["event_id"] != twice[1]["event_id"]  # Amplitude keeps both copies without insert_id


@pytest.mark.parametrize("event_type", ["watch_tutorial", "$identify", "[Amplitude] Start Session", "send_dataset"])
def test_events_outside_the_catalogue_are_dropped_and_counted(event_type: str) -> None:
    decoded = amplitude.decode(body(amp_event(event_type=event_type), amp_event()))
    assert decoded.dropped_events == {"unknown_event": 1} and len(decoded.rows) == 1


def test_era_a_original_server_events_decode_through_the_blindai_mapper() -> None:
    era_a = {
        "api_key": "33888bd644f1dc39f72f2963c944c94c",
        "events": [
            {"user_id": "1A2B3C4D5E6F", "event_type": "started", "device_id": "Linux - SGX HW", "time": 1650000000,
             "app_version": "0.3.2", "user_properties": {"sgx_mode": "HW", "uptime": 0,
                                                         "azure_dcsv3_patch_enabled": False, "client_uid": None},
             "event_properties": {"Started": {}}},
            {"user_id": "", "event_type": "run_model", "device_id": "Linux - SW", "time": 1650000042,
             "app_version": "0.3.2",
             "user_properties": {"sgx_mode": "SW", "uptime": 42, "azure_dcsv3_patch_enabled": False,
                                 "client_uid": "9f" * 32, "client_platform_name": "Linux"},
             "event_properties": {"RunModel": {"model_name": "resnet", "sign": False, "time_taken": 0.031}}},
        ],
    }
    decoded = amplitude.decode(era_a)
    started, run = decoded.rows
    assert (started["event"], started["time"], started["mode"], started["install_id"]) == (
        "server_started", 1_650_000_000_000, "hardware", "1A2B3C4D5E6F")
    assert (run["event"], run["duration_ms"], run["install_id"], run["mode"]) == (
        "model_run", pytest.approx(31.0), blindai.MOCK_INSTALL_ID, "simulation")
    assert {r["source"] for r in decoded.rows} == {"amplitude"}
    assert "9f" * 32 not in json.dumps(decoded.rows)
    same_on_blindai = blindai.decode(era_a["events"]).rows
    assert [r["event_id"] for r in same_on_blindai] == [r["event_id"] for r in decoded.rows]


def test_a_malformed_era_a_event_gets_amplitudes_400_shape() -> None:
    evt = {"user_id": "1A2B3C4D5E6F", "event_type": "run_model", "device_id": "Linux - SGX HW", "time": 1650000000,
           "event_properties": {"SendModel": {}}}
    refusal = refused(body(amp_event(), evt))
    assert refusal["events_with_invalid_fields"] == {"event_properties": [1]}


# --- validation, as Amplitude does it --------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "missing"), [
    ({"events": [amp_event()]}, "api_key"),
    ({"api_key": "", "events": [amp_event()]}, "api_key"),
    ({"api_key": 3, "events": [amp_event()]}, "api_key"),
    ({"api_key": "k"}, "events"),
    ({"api_key": "k", "events": []}, "events"),
    ({"api_key": "k", "events": {"0": amp_event()}}, "events"),
])
def test_a_request_without_api_key_or_events_is_refused_naming_the_field(payload: Any, missing: str) -> None:
    refusal = refused(payload)
    assert (refusal["error"], refusal["missing_field"]) == ("Request missing required field", missing)


@pytest.mark.parametrize("payload", [[], "body", 3, None])
def test_a_body_that_is_not_an_object_is_refused(payload: Any) -> None:
    assert refused(payload)["error"] == "Invalid JSON request body"


@pytest.mark.parametrize("options", [{"min_id_length": "3"}, {"min_id_length": 0}, {"min_id_length": True}, [3]])
def test_invalid_options_are_refused(options: Any) -> None:
    assert "min_id_length" in refused(body(amp_event(), options=options))["error"]


def test_each_invalid_event_is_listed_by_field_and_index() -> None:
    refusal = refused(body(
        amp_event(),
        amp_event(event_type=None),
        amp_event(time="2025-11-28T10:00:00Z"),
        amp_event(user_id=None, device_id=None),
        amp_event(time=1.5),
        amp_event(user_id=None, device_id="abc"),
    ))
    assert refusal["events_with_missing_fields"] == {"event_type": [1], "user_id": [3], "device_id": [3]}
    assert refusal["events_with_invalid_fields"] == {"time": [2, 4]}
    assert refusal["events_with_invalid_id_lengths"] == {"device_id": [5]}
    assert refusal["error"] == "Request missing required field"


@pytest.mark.parametrize("bad_id", [*sorted(amplitude.INVALID_IDS), "NULL", "Anonymous", "UNDEFINED"])
def test_ids_on_amplitudes_invalid_list_are_refused(bad_id: str) -> None:
    refusal = refused(body(amp_event(user_id=bad_id), options={"min_id_length": 1}))
    assert refusal["events_with_invalid_fields"] == {"user_id": [0]}
    assert refusal["error"] == "Invalid field values on some events"


@pytest.mark.parametrize(("field", "value"), [
    ("event_type", 7), ("event_type", ""), ("user_id", 12345), ("device_id", ["x"]), ("insert_id", 99),
    ("time", -1), ("time", True), ("time", 10**20), ("session_id", "abc"), ("app_version", 6.3),
    ("event_properties", ["model_name"]), ("user_properties", "mode=simulation"), ("price", "4.99"),
    ("app_version", "x" * 1025), ("insert_id", "i" * 1025),
])
def test_wrong_types_and_values_are_refused_naming_the_field(field: str, value: Any) -> None:
    refusal = refused(body(amp_event(**{field: value})))
    assert refusal["events_with_invalid_fields"] == {field: [0]}


def test_strings_up_to_1024_characters_are_accepted() -> None:
    decoded = amplitude.decode(body(amp_event(app_version="x" * 1024, insert_id="i" * 1024)))
    assert decoded.rows[0]["app_version"] == "x" * 1024


def test_property_strings_over_1024_characters_and_deep_nesting_are_refused() -> None:
    long_value = amp_event(event_properties={"note": "y" * 1025})
    nested: Any = "leaf"
    for _ in range(40):
        nested = {"n": nested}
    deep = amp_event(user_properties={"n": nested})
    refusal = refused(body(long_value, deep))
    assert refusal["events_with_invalid_fields"] == {"event_properties": [0], "user_properties": [1]}


def test_an_event_that_is_not_an_object_is_refused() -> None:
    assert refused(body(amp_event(), "model_run"))["events_with_invalid_fields"] == {"event": [1]}


def test_session_id_minus_one_means_no_session() -> None:
    evt = amp_event(session_id=-1, user_properties={})
    assert "session_id" not in amplitude.decode(body(evt)).rows[0]
    assert amplitude.decode(body(amp_event(session_id=1396381378123, user_properties={}))).rows[0][
        "session_id"] == "1396381378123"


# --- responses ------------------------------------------------------------------------------------------


def test_success_body_has_amplitudes_shape() -> None:
    before = int(time.time() * 1000)
    ok = amplitude.success_body(3, 512)
    assert {k: ok[k] for k in ("code", "events_ingested", "payload_size_bytes")} == {
        "code": 200, "events_ingested": 3, "payload_size_bytes": 512}
    assert before <= ok["server_upload_time"] <= int(time.time() * 1000)


def test_too_large_body_has_amplitudes_shape() -> None:
    assert amplitude.too_large_body() == {"code": 413, "error": "Payload too large"}


def test_throttled_body_lists_every_event_so_sdks_wait_before_retrying() -> None:
    throttled = amplitude.throttled_body({INSTALL: 1500}, event_count=3, eps_threshold=1000)
    assert throttled["code"] == 429
    assert throttled["throttled_devices"] == {INSTALL: 1500}
    assert throttled["throttled_events"] == [0, 1, 2]
    assert throttled["eps_threshold"] == 1000
    assert throttled["exceeded_daily_quota_devices"] == {} and throttled["exceeded_daily_quota_users"] == {}


def test_api_key_of_reads_the_body() -> None:
    assert amplitude.api_key_of(body(amp_event())) == "collector-key"
    assert amplitude.api_key_of({"api_key": 3}) is None and amplitude.api_key_of([]) is None


def test_our_sdks_amplitude_transport_round_trips_through_the_decoder() -> None:
    """What `Telemetry(amplitude_api_key=...)` sends, pointed at the collector, is stored as the native format would."""
    from blindai_telemetry._amplitude import to_amplitude

    native = {
        "event_id": "0b6f3f8e-6a0e-4c55-9d3e-1f9b0d0f2a11", "event": "model_run", "time": 1_764_323_400_001,
        "install_id": INSTALL, "session_id": "c2a1d2e3-0000-4000-8000-000000000002", "app": "blindai-server",
        "app_version": "0.6.3", "os_name": "Linux", "os_release": "6.1.0-18-amd64", "arch": "x86_64",
        "python_version": "3.11.7", "mode": "simulation", "uptime_s": 12.5, "cpu_count": 2, "memory_gb": 32.0,
        "is_ci": False,
        "properties": {"model_name": "resnet50", "duration_ms": 12.5, "input_bytes": 1024, "ok": True,
                       "client_install_id": "a1b2c3d4-0000-4000-8000-000000000001", "client_os_name": "Linux"},
    }
    decoded = amplitude.decode({"api_key": "k", "events": [to_amplitude(native)]})
    row = decoded.rows[0]
    expected = {k: v for k, v in native.items() if k not in ("event_id", "properties")} | native["properties"]
    assert {k: row[k] for k in expected} == expected
    assert decoded.dropped_fields == 1  # only `platform` ("Python"), which the catalogue does not have


def test_model_names_with_lone_surrogates_are_hashed_not_fatal() -> None:
    assert blindai.ModelNames(b"k")("1A2B3C4D5E6F", "model-\ud800").startswith("h:")
    assert blindai.ModelNames(b"k")("1A2B3C4D5E6F", "ResNet50.onnx") == "resnet50"
