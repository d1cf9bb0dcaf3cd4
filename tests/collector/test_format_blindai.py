"""The original BlindAI servers' format (`POST /blindai`): every era of RESEARCH.md §1 decodes into catalogue rows."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from blindai_telemetry.collector.formats import FormatError, blindai
from blindai_telemetry.stores.base import COLUMN_NAMES

CLIENT_UID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # sha256(host-user), unsalted
KERNEL = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"
CLIENT = {
    "client_uid": CLIENT_UID, "client_platform_name": "Linux", "client_platform_arch": "x86_64",
    "client_platform_version": KERNEL, "client_platform_release": "5.15.0-91-generic",
    "client_user_agent": "blindai_python", "client_user_agent_version": "0.5.10",
}
NO_CLIENT = dict.fromkeys(CLIENT)


def event(event_type: str, props: dict[str, Any] | None, *, era: str = "B", time: int = 1663600000,
          client: bool = True, **top: Any) -> dict[str, Any]:
    """An EVENT as the original server serialised it (serde: Option → null, enums externally tagged)."""
    variant = blindai.VARIANTS.get(event_type.removeprefix("client_"), "Started")
    out: dict[str, Any] = {"user_id": "1A2B3C4D5E6F"}
    if era in ("B", "C"):
        out |= {"cloud_user_id": None, "custom_agent_id": None}
    out |= {
        "event_type": event_type, "device_id": "Linux - SGX HW", "time": time, "app_version": "0.5.6",
        "user_properties": {"sgx_mode": "HW", "uptime": 42, "azure_dcsv3_patch_enabled": False,
                            **(CLIENT if client else NO_CLIENT)},
        "event_properties": {variant: props or {}},
    }
    out.update(top)
    return out


def started(**kw: Any) -> dict[str, Any]:
    return event("started", {}, client=False, **kw)


def send_model(name: str | None = "resnet", **kw: Any) -> dict[str, Any]:
    props = {"model_name": name, "model_size": 102_400, "sign": False, "time_taken": 0.52}
    if kw.get("era") == "C":
        del props["sign"]
    return event("send_model", props, **kw)


def run_model(name: str | None = "resnet", **kw: Any) -> dict[str, Any]:
    if kw.get("era") == "C":  # the last era: no `sign`, and a model hash instead of the name
        return event("run_model", {"model_hash": "ab" * 32, "time_taken": 0.031}, **kw)
    return event("run_model", {"model_name": name, "sign": False, "time_taken": 0.031}, **kw)


def one(payload: list[dict[str, Any]]) -> dict[str, Any]:
    decoded = blindai.decode(payload)
    assert len(decoded.rows) == 1
    return decoded.rows[0]


def test_started_becomes_server_started_with_the_servers_context() -> None:
    row = one([started()])
    assert row["event"] == "server_started"
    assert row["time"] == 1_663_600_000_000  # seconds on the wire
    assert row["install_id"] == "1A2B3C4D5E6F"
    assert (row["app"], row["app_version"], row["source"]) == ("blindai-server", "0.5.6", "blindai")
    assert (row["mode"], row["os_name"], row["uptime_s"]) == ("hardware", "Linux", 42.0)
    assert set(row) <= set(COLUMN_NAMES)


def test_send_model_becomes_model_uploaded_with_units_converted_and_client_facts() -> None:
    row = one([send_model()])
    assert row["event"] == "model_uploaded"
    assert row["duration_ms"] == pytest.approx(520.0)  # time_taken is seconds
    assert row["model_size_bytes"] == 102_400
    assert row["model_name"] == "resnet"  # a public architecture passes
    assert (row["client_os_name"], row["client_os_release"], row["client_arch"]) == (
        "Linux", "5.15.0-91-generic", "x86_64")
    assert (row["client_user_agent"], row["client_app_version"]) == ("blindai_python", "0.5.10")


def test_run_model_becomes_model_run() -> None:
    row = one([run_model()])
    assert row["event"] == "model_run"
    assert row["duration_ms"] == pytest.approx(31.0)


def test_the_client_uid_and_kernel_string_are_never_kept_but_are_counted() -> None:
    decoded = blindai.decode([send_model(), run_model()])
    text = json.dumps(decoded.rows)
    assert CLIENT_UID not in text and KERNEL not in text
    assert decoded.dropped_fields == 2 * 2 + 2  # client_uid and platform_version per event, plus each `sign`


def test_era_c_drops_model_hash_and_cloud_ids_and_counts_them() -> None:
    evt = run_model(era="C", cloud_user_id=1234, custom_agent_id="agent-7")
    decoded = blindai.decode([evt])
    row = decoded.rows[0]
    assert "model_name" not in row
    text = json.dumps(row)
    assert "ab" * 32 not in text and "agent-7" not in text and "1234" not in text
    assert decoded.dropped_fields == 2 + 1 + 2  # client uid + kernel, model_hash, cloud_user_id + custom_agent_id


def test_null_fields_are_not_counted_as_dropped() -> None:
    decoded = blindai.decode([started(era="B")])  # cloud ids and client facts are all null
    assert decoded.dropped_fields == 0


def test_era_b_and_c_events_with_the_same_facts_decode_alike() -> None:
    rows = [one([send_model(era=era)]) for era in ("B", "C")]
    for row in rows:
        row.pop("event_id")
    assert rows[0] == rows[1]


def test_other_model_names_are_hashed_per_install_and_stable() -> None:
    names = blindai.ModelNames(b"k" * 32)
    a1 = blindai.decode([run_model("fraud-detector-acme")], model_name_key=b"k" * 32).rows[0]["model_name"]
    a2 = blindai.decode([run_model("fraud-detector-acme")], model_name_key=b"k" * 32).rows[0]["model_name"]
    b = blindai.decode([run_model("fraud-detector-acme", user_id="FFFF0000")], model_name_key=b"k" * 32)
    assert a1 == a2 == names("1A2B3C4D5E6F", "fraud-detector-acme")
    assert a1.startswith("h:") and "fraud" not in a1
    assert b.rows[0]["model_name"] != a1  # the same name on two installs cannot be linked
    assert names("x", "ResNet50") == "resnet50"


def test_a_null_model_name_is_absent() -> None:
    assert "model_name" not in one([send_model(None)])


def test_client_copies_of_server_events_are_dropped_whole_and_counted() -> None:
    copy_send = send_model(user_id=CLIENT_UID, device_id="blindai_python") | {"event_type": "client_send_model"}
    copy_run = run_model(user_id=CLIENT_UID, device_id="blindai_python") | {"event_type": "client_run_model"}
    decoded = blindai.decode([copy_send, send_model(), copy_run])
    assert [r["event"] for r in decoded.rows] == ["model_uploaded"]
    assert decoded.dropped_events == {"unknown_event": 2}
    assert CLIENT_UID not in json.dumps(decoded.rows)


def test_unknown_event_types_are_dropped_and_counted_not_refused() -> None:
    decoded = blindai.decode([{"event_type": "send_dataset", "whatever": [1, 2]}, started()])
    assert decoded.dropped_events == {"unknown_event": 1} and len(decoded.rows) == 1


def test_mock_mode_servers_get_a_stable_placeholder_install_id() -> None:
    assert one([started(user_id="")])["install_id"] == blindai.MOCK_INSTALL_ID


@pytest.mark.parametrize(("user_properties", "device_id", "mode"), [
    ({"sgx_mode": "HW", "azure_dcsv3_patch_enabled": True}, "Linux - SGX HW", "dcsv3"),
    ({"sgx_mode": "SW", "azure_dcsv3_patch_enabled": False}, "Linux - SGX SW", "simulation"),
    ({}, "Linux - SGX HW", "hardware"),
    ({}, "Linux - SGX SW", "simulation"),
    ({}, "Linux - SW", "simulation"),
    ({}, "", None),
])
def test_mode_comes_from_sgx_mode_and_the_dcsv3_flag_else_from_the_platform_string(
        user_properties: dict[str, Any], device_id: str, mode: str | None) -> None:
    row = one([started(device_id=device_id, user_properties={"uptime": 1, **user_properties})])
    assert row.get("mode") == mode


def test_event_ids_are_deterministic_so_a_replayed_batch_deduplicates() -> None:
    batch = [started(), send_model(), run_model()]
    first = [r["event_id"] for r in blindai.decode(batch).rows]
    again = [r["event_id"] for r in blindai.decode(copy.deepcopy(batch)).rows]
    assert first == again and len(set(first)) == 3


def test_identical_events_in_one_batch_stay_distinct_and_replay_identically() -> None:
    batch = [run_model(), run_model()]
    ids = [r["event_id"] for r in blindai.decode(batch).rows]
    assert len(set(ids)) == 2
    assert ids == [r["event_id"] for r in blindai.decode(batch).rows]


def test_the_event_id_does_not_depend_on_what_is_never_stored() -> None:
    """Otherwise the stored id could confirm a guess of the client's host and user names or the model name."""
    base = one([send_model("secret-model")])["event_id"]
    other = send_model("other-secret")
    other["user_properties"]["client_uid"] = "0" * 64
    assert one([other])["event_id"] == base
    assert one([send_model(time=1663600001)])["event_id"] != base


def test_unknown_content_stays_out_of_the_event_id() -> None:
    deep: Any = "alice-laptop"
    for _ in range(5000):  # deeper than any JSON encoder recurses: unknown content is never encoded
        deep = [deep]
    assert one([started(hostname=deep)])["event_id"] == one([started()])["event_id"]


def test_a_time_already_in_milliseconds_is_not_multiplied() -> None:
    assert one([started(time=1_663_600_000_123)])["time"] == 1_663_600_000_123


def test_unknown_fields_are_dropped_and_counted() -> None:
    evt = started(hostname="alice-laptop")
    evt["user_properties"]["email"] = "alice@example.com"
    decoded = blindai.decode([evt])
    assert decoded.dropped_fields == 2
    assert "alice" not in json.dumps(decoded.rows)


def test_client_facts_on_started_are_dropped_because_no_client_caused_it() -> None:
    decoded = blindai.decode([event("started", {}, client=True)])
    assert not any(k.startswith("client_") for k in decoded.rows[0])
    assert decoded.dropped_fields == len(CLIENT)


def test_an_empty_array_decodes_to_nothing() -> None:
    decoded = blindai.decode([])
    assert (decoded.rows, decoded.dropped_events, decoded.dropped_fields) == ([], {}, 0)


def test_decode_event_returns_a_row_or_none() -> None:
    row = blindai.decode_event(run_model())
    assert row is not None and row["event"] == "model_run"
    assert blindai.decode_event(run_model() | {"event_type": "client_run_model"}) is None


@pytest.mark.parametrize("payload", [{}, "[]", 3, None, {"events": []}])
def test_a_body_that_is_not_an_array_is_refused(payload: Any) -> None:
    with pytest.raises(FormatError) as info:
        blindai.decode(payload)
    assert info.value.status == 400 and "array" in info.value.body["error"]


def _set(path: str, value: Any) -> dict[str, Any]:
    evt = send_model()
    *parents, last = path.split(".")
    target = evt
    for name in parents:
        target = target[name]
    target[last] = value
    return evt


@pytest.mark.parametrize(("evt", "field"), [
    ("not an event", "event"),
    (_set("time", "1663600000"), "time"),
    (_set("time", 1663600000.5), "time"),
    (_set("time", -1), "time"),
    (_set("time", 10**20), "time"),
    (_set("time", True), "time"),
    (_set("event_type", 3), "event_type"),
    (_set("user_id", None), "user_id"),
    (_set("user_id", 12345), "user_id"),
    (_set("device_id", ["Linux"]), "device_id"),
    (_set("app_version", 56), "app_version"),
    (_set("user_properties", []), "user_properties"),
    (_set("user_properties.uptime", "42"), "user_properties.uptime"),
    (_set("user_properties.uptime", -5), "user_properties.uptime"),
    (_set("user_properties.sgx_mode", 1), "user_properties.sgx_mode"),
    (_set("user_properties.client_platform_arch", 64), "user_properties.client_platform_arch"),
    (_set("event_properties", {"RunModel": {"time_taken": 0.1}}), "event_properties"),
    (_set("event_properties", {"SendModel": {}, "RunModel": {}}), "event_properties"),
    (_set("event_properties", "SendModel"), "event_properties"),
    (_set("event_properties.SendModel", [1]), "event_properties.SendModel"),
    (_set("event_properties.SendModel.model_size", "100"), "event_properties.SendModel.model_size"),
    (_set("event_properties.SendModel.model_size", -1), "event_properties.SendModel.model_size"),
    (_set("event_properties.SendModel.time_taken", "0.5"), "event_properties.SendModel.time_taken"),
    (_set("event_properties.SendModel.time_taken", -0.5), "event_properties.SendModel.time_taken"),
    (_set("event_properties.SendModel.time_taken", float("nan")), "event_properties.SendModel.time_taken"),
    (_set("event_properties.SendModel.model_name", 7), "event_properties.SendModel.model_name"),
])
def test_a_malformed_event_is_refused_naming_its_index_and_field(evt: Any, field: str) -> None:
    with pytest.raises(FormatError) as info:
        blindai.decode([started(), evt])
    assert info.value.status == 400
    assert info.value.body["detail"] == {"index": 1, "field": field}
    assert "event 1" in info.value.body["error"]
