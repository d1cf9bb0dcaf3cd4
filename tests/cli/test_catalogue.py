"""`blindai-telemetry catalogue` lists every event and field, its type and why, from the catalogue module."""

from __future__ import annotations

import json

from blindai_telemetry import catalogue

from ._helpers import Invoke


def test_json_is_the_catalogue_itself(invoke: Invoke) -> None:
    assert json.loads(invoke("catalogue", "--json").stdout) == catalogue.as_dict()


def test_text_names_every_field_with_type_and_reason(invoke: Invoke) -> None:
    lines = invoke("catalogue").stdout.splitlines()
    for field in catalogue.FIELDS.values():
        matching = [line for line in lines if line.split()[:2] == [field.name, field.json_type()]]
        assert matching, f"{field.name} missing"
        assert all(field.why in line for line in matching)


def test_text_lists_every_event_with_its_properties_in_order(invoke: Invoke) -> None:
    lines = invoke("catalogue").stdout.splitlines()
    for spec in catalogue.EVENTS.values():
        start = lines.index(f"  {spec.name} — {spec.why}")
        block = []
        for line in lines[start + 1 :]:
            if not line.startswith("    "):
                break
            block.append(line.split()[0])
        assert block == (list(spec.properties) or ["(no"])


def test_text_has_the_sections_and_what_is_never_collected(invoke: Invoke) -> None:
    out = invoke("catalogue").stdout
    for heading in ("Every event carries:", "Context attached to every event:", "Events:", "Never collected:"):
        assert heading in out
    for item in catalogue.NEVER_COLLECTED:
        assert f"  - {item}" in out
    for kind in catalogue.ERROR_KINDS:
        assert kind in out
