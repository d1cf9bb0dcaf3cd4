"""For every JSON value, both format decoders either refuse it with a FormatError or return rows that fit the table."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blindai_telemetry import catalogue
from blindai_telemetry.collector.formats import Decoded, FormatError, amplitude, blindai, mapping
from blindai_telemetry.stores import MAX_TIME_MS
from blindai_telemetry.stores.base import COLUMN_NAMES

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**25), max_value=10**25)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
json_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children,
                                                                                max_size=4),
    max_leaves=20)


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes any JSON value: reaches deep into the decoders."""
    return st.one_of(good, good, json_values)


ids = st.sampled_from(["1A2B3C4D5E6F", "", "abc", "null", "C8F9E604-F01A", "6f1d2c3b-4a59-4e68"])
catalogue_names = st.sampled_from([*sorted(catalogue.FIELDS), "email", "ip", "model_hash", "sign", "$set"])
props = st.dictionaries(catalogue_names, scalars, max_size=6)
event_types = st.sampled_from([*catalogue.EVENTS, *blindai.ORIGINAL_EVENT_TYPES, "watch_tutorial"])
times = st.integers(min_value=-5, max_value=10**16) | st.sampled_from([1663600000, 1_764_323_400_001])
variants = st.builds(lambda tag, inner: {tag: inner}, st.sampled_from([*blindai.VARIANTS.values(), "Other"]),
                     maybe(st.dictionaries(st.sampled_from(["model_name", "model_size", "time_taken", "sign",
                                                            "model_hash"]), scalars, max_size=4)))
original_user_properties = st.dictionaries(
    st.sampled_from(["sgx_mode", "uptime", "azure_dcsv3_patch_enabled", "client_uid", "client_platform_name",
                     "client_platform_version", "client_user_agent_version", "extra"]), scalars, max_size=6)

good_times = st.integers(min_value=0, max_value=4 * 10**12)
amplitude_events = st.fixed_dictionaries(
    {"event_type": event_types, "user_id": st.sampled_from(["6f1d2c3b-4a59", "1A2B3C4D5E6F"]), "time": good_times},
    optional={"device_id": ids, "insert_id": st.text(max_size=8), "ip": st.just("127.0.0.77"),
              "user_properties": props, "event_properties": props, "library": st.just("amplitude-python/1.1.4"),
              "session_id": st.integers(min_value=-1, max_value=10**13)})


def _original(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    tag = blindai.VARIANTS.get(event_type, "Started")
    inner = st.fixed_dictionaries({}, optional={
        "model_name": st.none() | st.text(max_size=12), "model_size": st.integers(min_value=0, max_value=10**12),
        "time_taken": st.floats(min_value=0, max_value=1e6), "sign": st.booleans(), "model_hash": st.text(max_size=8)})
    return st.fixed_dictionaries(
        {"event_type": st.just(event_type), "user_id": ids, "time": good_times, "event_properties": inner.map(
            lambda d: {tag: d})},
        optional={"device_id": st.sampled_from(["Linux - SGX HW", "Linux - SW", ""]), "app_version": st.just("0.5.6"),
                  "cloud_user_id": st.none() | st.integers(), "custom_agent_id": st.none() | st.text(max_size=5),
                  "user_properties": original_user_properties.filter(_plausible_user_properties)})


def _plausible_user_properties(d: dict[str, Any]) -> bool:
    return all(isinstance(v, (str, type(None))) for k, v in d.items() if k.startswith(("client", "sgx")))


original_events = st.sampled_from(sorted(blindai.ORIGINAL_EVENT_TYPES)).flatmap(_original)
valid_amplitude_bodies = st.fixed_dictionaries({"api_key": st.just("k"), "events": st.lists(
    amplitude_events | original_events, min_size=1, max_size=5)})

events = st.fixed_dictionaries({}, optional={
    "user_id": maybe(ids), "device_id": maybe(ids | st.just("Linux - SGX HW")), "event_type": maybe(event_types),
    "time": maybe(times), "insert_id": maybe(st.text(max_size=8)), "app_version": maybe(st.just("0.5.6")),
    "session_id": maybe(st.integers()), "ip": st.just("127.0.0.77"), "os_version": maybe(st.just("6.1")),
    "cloud_user_id": maybe(st.integers()), "user_properties": maybe(props | original_user_properties),
    "event_properties": maybe(props | variants),
})
amplitude_bodies = st.fixed_dictionaries({}, optional={
    "api_key": maybe(st.just("k")), "events": maybe(st.lists(maybe(events), max_size=5)),
    "options": maybe(st.fixed_dictionaries({"min_id_length": maybe(st.integers(min_value=-1, max_value=6))})),
})


def check(decode: Any, payload: Any) -> None:
    try:
        decoded = decode(payload)
    except FormatError as exc:
        assert 400 <= exc.status < 500
        json.dumps(exc.body, allow_nan=False)  # the app answers it as JSON
        return
    assert isinstance(decoded, Decoded)
    assert decoded.dropped_fields >= 0 and all(n > 0 for n in decoded.dropped_events.values())
    for row in decoded.rows:
        assert set(row) <= set(COLUMN_NAMES)
        assert row["event"] in catalogue.EVENTS and row["source"] in ("amplitude", "blindai")
        assert isinstance(row["install_id"], str) and row["install_id"]
        assert isinstance(row["event_id"], str) and row["event_id"]
        assert isinstance(row["time"], int) and 0 <= row["time"] <= MAX_TIME_MS
        for name, value in row.items():
            if name in catalogue.FIELDS and name not in ("event_id", "event", "time"):
                assert mapping.catalogue_value(name, value) == value, (name, value)
        assert "127.0.0.77" not in json.dumps(row)


@FUZZ
@given(json_values)
def test_amplitude_decode_only_ever_raises_format_error_for_any_json(payload: Any) -> None:
    check(amplitude.decode, payload)


@FUZZ
@given(amplitude_bodies)
def test_amplitude_decode_only_ever_raises_format_error_for_near_valid_bodies(payload: Any) -> None:
    check(amplitude.decode, payload)


@FUZZ
@given(json_values)
def test_blindai_decode_only_ever_raises_format_error_for_any_json(payload: Any) -> None:
    check(blindai.decode, payload)


@FUZZ
@given(st.lists(maybe(events), max_size=5))
def test_blindai_decode_only_ever_raises_format_error_for_near_valid_arrays(payload: Any) -> None:
    check(blindai.decode, payload)


@FUZZ
@given(valid_amplitude_bodies)
def test_amplitude_decode_of_plausible_bodies_yields_rows_that_fit_the_table(payload: Any) -> None:
    check(amplitude.decode, payload)


@FUZZ
@given(st.lists(original_events, max_size=5))
def test_blindai_decode_of_plausible_arrays_yields_rows_that_fit_the_table(payload: Any) -> None:
    check(blindai.decode, payload)


@given(st.recursive(st.text() | st.integers() | st.booleans(), lambda inner: st.lists(inner, max_size=3), max_leaves=8))
def test_content_ids_are_the_name_based_uuids_they_always_were(material: Any) -> None:
    # A batch stored by an older collector and retried after an upgrade must get the same ids, or count twice.
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert mapping.content_id(material) == str(uuid.uuid5(mapping._NAMESPACE, canonical))
    assert mapping.content_id(material, 2) == str(uuid.uuid5(mapping._NAMESPACE, canonical + "#2"))


@given(st.text(), st.text() | st.uuids().map(str))
def test_an_insert_ids_key_is_the_content_id_it_always_was(scope: str, insert_id: str) -> None:
    """Written directly for plain text, through the JSON encoder otherwise: the same id either way."""
    assert mapping.insert_id_key(scope, insert_id) == mapping.content_id(["insert_id", scope, insert_id])
