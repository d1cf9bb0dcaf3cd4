"""Catalogue validation shared by every format: strict for the native format, lenient (drop and count) otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from collector_helpers import event
from hypothesis import given, settings
from hypothesis import strategies as st

from blindai_telemetry import catalogue
from blindai_telemetry.collector.validate import ValidationError, check_rows
from blindai_telemetry.stores import COLUMN_NAMES


def _lenient(*rows: dict[str, Any]) -> Any:
    return check_rows(rows, source="amplitude", received_at_ms=1, strict=False)


def test_lenient_mode_drops_and_counts_what_strict_mode_refuses() -> None:
    bad = event(cpu_count="two", app_version="9" * 500, mode="turbo", properties={"ok": "yes", "model_name": "m"})
    with pytest.raises(ValidationError, match=r"events\[0\]\.(cpu_count|app_version)"):
        check_rows([bad], source="native", received_at_ms=1, strict=True)
    checked = _lenient(bad)
    [row] = checked.rows
    assert row["cpu_count"] is None  # rows carry every column; a dropped value is NULL
    assert row["app_version"] == "9" * catalogue.MAX_STRING_LENGTH  # capped, not refused
    assert row["mode"] is None and row["ok"] is None and row["model_name"] == "m"
    assert checked.dropped_fields == 3


def test_a_row_missing_its_envelope_is_dropped_whole_in_lenient_mode() -> None:
    checked = _lenient(event(install_id=""), event(time=-5), event(event_id=None), event())
    assert len(checked.rows) == 1 and checked.dropped_events == {"invalid_event": 3}


def test_envelope_fields_inside_properties_are_not_taken_and_are_counted() -> None:
    e = event(properties={"event_id": "other", "install_id": "someone-else", "properties": {}, "ok": True})
    checked = _lenient(e)
    [row] = checked.rows
    assert row["event_id"] == e["event_id"] and row["install_id"] == e["install_id"] and row["ok"] is True
    assert checked.dropped_fields == 3


def test_every_output_row_has_only_table_columns_and_a_valid_source() -> None:
    checked = _lenient(event(), event("server_started"), event("client_connected", arch="arm64"))
    for row in checked.rows:
        assert set(row) <= set(COLUMN_NAMES) and row["source"] == "amplitude" and row["received_at"] == 1


_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=300),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(extra=st.dictionaries(st.sampled_from([*catalogue.FIELDS, "properties", "junk"]), _values, max_size=8),
       props=st.dictionaries(st.sampled_from([*catalogue.FIELDS, "junk"]), _values, max_size=6))
def test_any_row_is_either_refused_or_made_to_fit_the_catalogue(extra: dict[str, Any], props: dict[str, Any]) -> None:
    row = {**event(), **extra}
    if "properties" not in extra:
        row["properties"] = props
    for strict in (True, False):
        try:
            checked = check_rows([row], source="native", received_at_ms=1, strict=strict)
        except ValidationError as exc:
            assert strict and str(exc).startswith("events[0].")
            continue
        for out in checked.rows:
            assert set(out) <= set(COLUMN_NAMES)
            for name, value in out.items():
                f = catalogue.FIELDS.get(name)
                if f is None or value is None:
                    continue
                assert type(value) is f.type, (name, value)
                if f.choices:
                    assert value in f.choices
                if isinstance(value, str):
                    assert 0 < len(value) <= catalogue.MAX_STRING_LENGTH and "\x00" not in value


def test_the_personal_data_memo_keeps_repeated_values_not_ids_and_stays_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from blindai_telemetry.collector import validate

    monkeypatch.setattr(validate, "_PERSONAL", {})
    monkeypatch.setattr(validate, "_PERSONAL_MAX", 3)
    client = "6f1d2c7e-8a7b-4c1e-9d2f-0b1c2d3e4f50"
    assert validate.personal_text(client) is False and client not in validate._PERSONAL  # ids: never remembered
    assert validate.personal_text("0.6.3") is False and validate._PERSONAL == {"0.6.3": False}
    for value in ("a@b.example", "10.1.2.3", "/home/alice/x.onnx"):
        assert validate.personal_text(value) is True  # the memo empties when full and keeps answering right
    assert len(validate._PERSONAL) <= 3
    assert validate.personal_text("a@b.example") is True


@pytest.mark.parametrize("value", ["0.6.3\x1b[2J", "1.0\u202e", "Linux\n", "x\x9b31m", "\u2066v2\u2069"])
def test_control_and_bidi_characters_are_never_stored(value: str) -> None:
    checked = _lenient(event(app_version=value, os_name=value, properties={"model_name": value}))
    [row] = checked.rows
    assert row["app_version"] is None and row["os_name"] is None and row["model_name"] is None
    assert checked.dropped_fields == 3
    strict = check_rows([event(os_release=value)], source="native", received_at_ms=1, strict=True)
    assert strict.rows[0]["os_release"] is None and strict.dropped_fields == 1
    with pytest.raises(ValidationError, match="install_id"):
        check_rows([event(install_id="install-" + value)], source="native", received_at_ms=1, strict=True)


@pytest.mark.parametrize(("name", "value", "stored"), [
    ("cpu_count", 2**31 - 1, 2**31 - 1), ("cpu_count", 2**31, None), ("cpu_count", -1, None), ("cpu_count", True, None),
    ("cpu_count", 2.0, None), ("uptime_s", 3, 3.0), ("uptime_s", 1.5, 1.5), ("uptime_s", -0.5, None),
    ("uptime_s", float("nan"), None), ("uptime_s", float("inf"), None), ("uptime_s", False, None),
    ("uptime_s", 10**400, None), ("uptime_s", -(10**400), None),
    ("is_ci", True, True), ("is_ci", 1, None),
])
def test_numbers_and_bools_are_held_to_their_type_and_range(name: str, value: Any, stored: Any) -> None:
    checked = _lenient(event(**{name: value}))
    assert checked.rows[0][name] == stored and type(checked.rows[0][name]) is type(stored)
    assert checked.dropped_fields == (stored is None)
    if stored is None:
        with pytest.raises(ValidationError, match=rf"events\[0\]\.{name}: expected"):
            check_rows([event(**{name: value})], source="native", received_at_ms=1, strict=True)
