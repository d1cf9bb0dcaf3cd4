"""The Amplitude route's typed shortcut gives exactly what the general path gives, or steps aside for it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from collector_helpers import field_value, general_path
from hypothesis import given, settings
from hypothesis import strategies as st
from test_format_amplitude import amp_event

from blindai_telemetry import catalogue
from blindai_telemetry.collector.formats import FormatError, amplitude, amplitude_typed
from blindai_telemetry.collector.validate import Checked


def _general(data: bytes) -> tuple[Any, Checked]:
    return general_path(amplitude.FORMAT, data)


def _same_as_the_general_path(data: bytes) -> bool:
    """Whether the shortcut applied; when it did, the general path drops no event and makes the same rows."""
    shortcut = amplitude_typed.checked(data, 7)
    if shortcut is None:
        return False
    payload, checked = _general(data)
    assert not checked.dropped_events and shortcut[1].dropped_fields == checked.dropped_fields
    assert shortcut[1].rows == checked.rows
    assert amplitude.api_key_of(shortcut[0]) == amplitude.api_key_of(payload)
    assert len(shortcut[0]["events"]) == len(payload["events"])
    return True


def _body(*events: dict[str, Any], **top: Any) -> bytes:
    return json.dumps({"api_key": "collector-key", "events": list(events), **top}).encode()


def test_an_amplitude_sdk_batch_takes_the_shortcut_and_gets_the_general_paths_rows() -> None:
    events = [amp_event(event_type=name, insert_id=str(uuid.uuid4()), event_properties={
        k: v for k, v in amp_event()["event_properties"].items() if k in catalogue.allowed_properties(name)})
        for name in catalogue.EVENTS]
    events.append(amp_event(session_id=1_764_323_400_000, ip="10.1.2.3", platform="Linux", price=2,
                            user_properties={"install_id": amp_event()["user_id"], "cpu_count": 2**31 - 1}))
    events.append(amp_event(user_id=None, time=1_663_600_000, session_id=-1, os_version="6.1"))
    assert _same_as_the_general_path(_body(*events, options={"min_id_length": 3}, extra={"x": 1}))
    rows = amplitude_typed.checked(_body(*events), 7)[1].rows  # type: ignore[index]
    assert [row["event"] for row in rows[:len(catalogue.EVENTS)]] == list(catalogue.EVENTS)
    assert rows[0]["session_id"] == "c2a1-session" and rows[-1]["session_id"] == "c2a1-session"
    assert rows[-2]["session_id"] == "1764323400000" and rows[-2]["cpu_count"] == 2**31 - 1
    assert rows[-1]["install_id"] == amp_event()["device_id"] and rows[-1]["time"] == 1_663_600_000_000
    assert amplitude_typed.checked(_body(*events), 7)[1].dropped_fields == len(events) + 2  # type: ignore[index]


@pytest.mark.parametrize("change", [
    {"event_type": "watch_tutorial"}, {"event_type": "ServerStart"}, {"event_type": ""}, {"insert_id": None},
    {"user_id": "abc", "device_id": None}, {"user_id": "null"}, {"device_id": "abc"},
    {"user_id": None, "device_id": None},
    {"user_id": "alice@example.com"}, {"user_id": "u" * 201}, {"time": -1}, {"time": 10**16}, {"time": True},
    {"groups": {"a": 1}}, {"custom": 1}, {"app_version": ""}, {"app_version": "9" * 201}, {"os_name": "Linux\x00"},
    {"session_id": "s"}, {"price": True}, {"ip": 5},
    {"user_properties": {"junk": 1}}, {"user_properties": {"install_id": "someone-else"}},
    {"event_properties": {"model_name": "/home/alice/m.onnx"}}, {"event_properties": {"mode": "turbo"}},
    {"event_properties": {"cpu_count": -1}}, {"event_properties": {"duration_ms": "fast"}},
    {"event_properties": []}, {"user_properties": {"app": "x" * 201}},
])
def test_anything_amplitude_or_the_catalogue_would_refuse_drop_or_cut_is_left_to_the_general_path(
        change: dict[str, Any]) -> None:
    data = _body(amp_event(), amp_event(**change))
    assert amplitude_typed.checked(data, 7) is None
    try:
        _general(data)
    except FormatError:
        return  # refused, with Amplitude's own answer


@pytest.mark.parametrize("body", [
    b"", b"[]", b"{}", b'{"api_key": "", "events": [{}]}', b'{"api_key": "k", "events": []}',
    b'{"api_key": "k", "events": [1]}', b'{"api_key": "k", "events": [], "options": []}',
    b'{"api_key": "k", "events": [{"event_type": "model_run", "user_id": "abcdef", "insert_id": "x"}], '
    b'"options": {"min_id_length": 0}}',
])
def test_a_body_amplitude_refuses_is_left_to_the_general_path(body: bytes) -> None:
    assert amplitude_typed.checked(body, 7) is None


def _properties(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly the event type's own properties (and context), sometimes another's or junk."""
    names = sorted(catalogue.CONTEXT_NAMES | catalogue.allowed_properties(event_type))
    names += ["junk", "model_name", "install_id"]
    return st.lists(st.sampled_from(names), unique=True, max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: field_value(k) for k in keys}))


def _event(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    valid_id = st.uuids().map(str) | st.just("1A2B3C4D5E6F")
    return st.fixed_dictionaries(
        {"event_type": st.just(event_type), "time": st.integers(0, 4 * 10**12),
         "insert_id": st.uuids().map(str) | st.text(max_size=8)},
        optional={"user_id": valid_id | valid_id | st.sampled_from(["abc", "null", "6f1d2c3b-4a59"]),
                  "device_id": valid_id | st.just("abc"), "ip": st.just("127.0.0.77"),
                  "library": st.just("amplitude-python/1.1.4"), "session_id": st.integers(-1, 10**13),
                  "app_version": st.sampled_from(["0.6.3", ""]), "os_version": st.just("6.1"),
                  "user_properties": _properties(event_type), "event_properties": _properties(event_type)})


_events = st.sampled_from([*catalogue.EVENTS, *catalogue.EVENTS, "watch_tutorial"]).flatmap(_event)


@settings(max_examples=600, deadline=None)
@given(st.lists(_events, min_size=1, max_size=2), st.sampled_from([None, 1, 5, 13]))
def test_any_batch_gets_the_general_paths_answer_through_the_shortcut_or_not(
        events: list[dict[str, Any]], min_id_length: int | None) -> None:
    options = {} if min_id_length is None else {"options": {"min_id_length": min_id_length}}
    data = _body(*events, **options)
    try:
        _same_as_the_general_path(data)
    except FormatError:
        pytest.fail("the shortcut took a batch Amplitude refuses")
