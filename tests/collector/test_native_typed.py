"""The native format's typed shortcut gives exactly what the general path gives, or steps aside for it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from collector_helpers import NOW_MS, any_json_value, batch, event, field_value, general_path
from hypothesis import given, settings
from hypothesis import strategies as st

from blindai_telemetry import catalogue
from blindai_telemetry.collector.formats import native, native_typed
from blindai_telemetry.collector.validate import Checked, ValidationError


def _general(data: bytes) -> tuple[Any, Checked]:
    return general_path(native.FORMAT, data)


def _same_as_the_general_path(data: bytes) -> bool:
    """Whether the shortcut applied; when it did, the general path finds nothing to say and makes the same rows."""
    shortcut = native_typed.checked(data, "native", 7)
    if shortcut is None:
        return False
    payload, checked = _general(data)
    assert checked.dropped_fields == 0 and not checked.dropped_events
    assert shortcut[1].rows == checked.rows and list(shortcut[1].rows[0]) == list(checked.rows[0])
    assert native.sdk_dropped(shortcut[0]) == native.sdk_dropped(payload) and len(shortcut[0]["events"]) == len(
        payload["events"])
    return True


def _sdk_event(name: str = "model_run", **fields: Any) -> dict[str, Any]:
    ids = {"event_id": str(uuid.uuid4()), "install_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4())}
    return event(name, **{**ids, **fields})


def test_an_sdk_batch_takes_the_shortcut_and_gets_the_general_paths_rows() -> None:
    events = [_sdk_event(name) for name in catalogue.EVENTS]
    events.append(_sdk_event(cpu_count=2**31 - 1, uptime_s=3, memory_gb=0.5, properties={
        "model_name": "resnet50", "duration_ms": 0, "input_bytes": 2**63 - 1, "ok": False, "error_kind": "too_large",
        "client_install_id": str(uuid.uuid4()), "client_user_agent": "blindai-python", "client_os_release": None}))
    events.append(_sdk_event(install_id="6f1d5c1e-inst-0001", os_release="6.1.0", properties=None))
    data = json.dumps(batch(*events, dropped={"queue_full": 3, "other": "x"})).encode()
    assert _same_as_the_general_path(data)
    rows = native_typed.checked(data, "native", 7)[1].rows  # type: ignore[index]
    assert [r["event"] for r in rows[:len(catalogue.EVENTS)]] == list(catalogue.EVENTS)
    assert type(rows[-2]["uptime_s"]) is float and rows[-2]["duration_ms"] == 0.0 and rows[-2]["properties"] is None


@pytest.mark.parametrize("change", [
    {"junk": 1}, {"event": "future_event"}, {"event": None}, {"properties": {"junk": 1}}, {"properties": []},
    {"time": -1}, {"time": 1.5},
    {"cpu_count": 2**31}, {"cpu_count": True}, {"uptime_s": -0.5}, {"is_ci": 1}, {"mode": "turbo"},
    {"app_version": "9" * (catalogue.MAX_STRING_LENGTH + 1)}, {"app_version": ""}, {"os_name": "Linux\x00"},
    {"os_name": "Linux\n"}, {"app": "alice@example.com"}, {"properties": {"model_name": "/home/alice/m.onnx"}},
    {"install_id": "alice@example.com"}, {"event_id": "http://example.com/x"}, {"event_id": None},
])
def test_anything_to_refuse_drop_or_count_is_left_to_the_general_path(change: dict[str, Any]) -> None:
    data = json.dumps(batch(_sdk_event(), _sdk_event(**change))).encode()
    assert native_typed.checked(data, "native", 7) is None
    try:
        _, checked = _general(data)
    except ValidationError:
        return  # refused, with the general path's message
    assert checked.dropped_fields or checked.dropped_events  # else the shortcut should have taken it


@pytest.mark.parametrize("change", [
    {"model_name": "resnet50"}, {"properties": {"app": "blindai-server", "ok": True}}, {"received_at": 1},
])
def test_what_the_general_path_takes_silently_but_out_of_place_is_left_to_it(change: dict[str, Any]) -> None:
    """A property at the top level, context inside `properties`: the general path stores it where it belongs."""
    data = json.dumps(batch(_sdk_event(**change))).encode()
    assert native_typed.checked(data, "native", 7) is None
    _, checked = _general(data)
    assert len(checked.rows) == 1 and checked.dropped_fields == 0


@pytest.mark.parametrize("body", [
    b"", b"[]", b"{}", b'{"events": {}}', b'{"events": [1]}', b'{"events": [], "extra": 1}',
    b'{"events": [], "schema_version": 0}', b'{"events": [], "sent_at": "now"}', b'{"events": [], "dropped": []}',
    b'{"events": [', b'{"events": [{"event": "model_run", "event_id": "\\ud800"}]}',
])
def test_a_body_the_general_path_refuses_or_counts_is_left_to_it(body: bytes) -> None:
    assert native_typed.checked(body, "native", 7) is None


def _fields(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.lists(st.sampled_from(names), unique=True, max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: field_value(k) for k in keys}))


_CONTEXT = sorted(catalogue.CONTEXT_NAMES - {"install_id"})
_PROPERTIES = sorted(catalogue.PROPERTY_NAMES)


@settings(max_examples=500, deadline=None)
@given(extra=_fields([*_CONTEXT, "event_id", "time", "junk", "model_name"]),
       props=_fields([*_PROPERTIES, "junk", "app"]),
       top=st.fixed_dictionaries({}, optional={
           "schema_version": st.one_of(st.integers(0, 2), any_json_value),
           "sent_at": st.one_of(st.integers(), any_json_value),
           "dropped": st.one_of(st.dictionaries(st.sampled_from(native.DROP_REASONS), st.integers()), any_json_value)}),
       ascii_only=st.booleans())
def test_any_batch_gets_the_general_paths_answer_through_the_shortcut_or_not(
        extra: dict[str, Any], props: dict[str, Any], top: dict[str, Any], ascii_only: bool) -> None:
    row = {**_sdk_event(), **extra, "properties": props}
    data = json.dumps({"events": [_sdk_event(), row], "sent_at": NOW_MS, **top}, ensure_ascii=ascii_only).encode()
    _same_as_the_general_path(data)
