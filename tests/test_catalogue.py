"""The catalogue is consistent with itself, with the public `events` table and with DESIGN.md's contracts."""

from __future__ import annotations

import pytest

from blindai_telemetry import catalogue
from blindai_telemetry import environment_variables as ev
from blindai_telemetry.stores.base import COLUMN_NAMES


def test_every_event_property_is_a_known_field() -> None:
    for spec in catalogue.EVENTS.values():
        for name in spec.properties:
            assert name in catalogue.PROPERTY_NAMES, (spec.name, name)


def test_design_events_and_context_are_exactly_catalogued() -> None:
    assert set(catalogue.EVENTS) == {
        "server_started", "server_stopped", "model_uploaded", "model_run", "model_deleted", "client_connected",
    }
    assert set(catalogue.CONTEXT_NAMES) == {
        "install_id", "session_id", "app", "app_version", "os_name", "os_release", "arch", "python_version",
        "mode", "uptime_s", "cpu_count", "memory_gb", "is_ci",
    }


def test_every_catalogued_field_has_a_column_or_lands_in_properties() -> None:
    """Each field is either a first-class column of `events` or a key of its JSON `properties` column."""
    columns = set(COLUMN_NAMES)
    assert {"event_id", "event", "time", "install_id", "session_id", "app", "app_version", "mode", "os_name",
            "arch", "is_ci", "client_install_id", "client_app_version", "duration_ms", "model_size_bytes",
            "model_name", "properties"} <= columns  # DESIGN.md "Storage schema"
    assert set(catalogue.FIELDS) <= columns, set(catalogue.FIELDS) - columns


def test_every_field_says_why_it_is_collected() -> None:
    for f in catalogue.FIELDS.values():
        assert len(f.why) > 10, f.name


def test_as_dict_lists_every_field_once() -> None:
    data = catalogue.as_dict()
    names = [f["name"] for f in data["envelope"] + data["context"]]
    names += [p["name"] for e in data["events"] for p in e["properties"]]
    assert set(names) == set(catalogue.FIELDS)
    assert {e["name"] for e in data["events"]} == set(catalogue.EVENTS)


@pytest.mark.parametrize(
    ("value", "disables"),
    [(None, False), ("0", False), ("false", False), ("FALSE", False), (" no ", False), ("Off", False),
     ("", True), ("1", True), ("true", True), ("yes", True), ("anything", True)],
)
def test_opt_out_value_rule(value: str | None, disables: bool) -> None:
    """DESIGN.md: anything but 0/false/no/off (any case) disables, an empty value too; unset does not."""
    assert ev.is_opt_out_value(value) is disables
