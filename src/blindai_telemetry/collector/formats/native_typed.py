"""The native batch decoded into typed structs and held to the catalogue in one pass, for the common case.

A batch from our SDK is almost always entirely sound: every field known, in its place, of its type and range,
every text clean. msgspec decodes such a body straight into one `Struct` per event type (a tagged union on
`event`), built from the catalogue, whose types and `Meta` bounds are the checks `collector.validate` runs: the
type and range of each number, the length of each text, the choices of an enumerated field, the event's own
properties and no others, the envelope. What a struct cannot say is checked column-wise (`typed`): no id or
text looks personal or holds a NUL.

Anything else — an unknown field or event, a value out of range, a text to drop — is not handled here: `checked`
returns None and the route runs the general path (`native.decode` + `validate.check_rows`), which names the
problem or drops and counts it. So the fast path never answers differently; it only skips work when there is
nothing to say (in process, decode and checks 7 -> 3.2 us an event on the ingest benchmark's native batches).
"""

from __future__ import annotations

from typing import Annotated, Any, Union

import msgspec

from blindai_telemetry import catalogue
from blindai_telemetry.collector.formats.typed import COLUMNS, Text, clean_ids, clean_texts, field_type
from blindai_telemetry.collector.validate import EMPTY_ROW, Checked
from blindai_telemetry.stores import MAX_TIME_MS


def _event_struct(name: str) -> type[msgspec.Struct]:
    """The struct of one event type: envelope and context at the top level, its own properties in `properties`."""
    properties = msgspec.defstruct(f"{name}_properties", [
        (p, field_type(catalogue.FIELDS[p]), None) for p in catalogue.EVENTS[name].properties if p in COLUMNS],
        forbid_unknown_fields=True)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        ("event_id", Text), ("time", Annotated[int, msgspec.Meta(ge=0, le=MAX_TIME_MS)]), ("install_id", Text)]
    fields += [(f.name, field_type(f), None) for f in catalogue.CONTEXT_FIELDS
               if f.name != "install_id" and f.name in COLUMNS]
    fields.append(("properties", properties | None, None))
    return msgspec.defstruct(name, fields, tag_field="event", tag=name, forbid_unknown_fields=True)


_EVENTS = tuple(_event_struct(name) for name in catalogue.EVENTS)
_Batch = msgspec.defstruct("Batch", [
    ("events", list[Union[_EVENTS]]),  # type: ignore[valid-type]  # noqa: UP007 - a union of a run-time tuple
    ("schema_version", Annotated[int, msgspec.Meta(ge=1)], 1),
    ("sent_at", int | None, None),
    ("dropped", dict[str, Any] | None, None),
], forbid_unknown_fields=True)
_DECODER = msgspec.json.Decoder(_Batch)
_TAGS = {struct: struct.__struct_config__.tag for struct in _EVENTS}
_as_dict = msgspec.structs.asdict


def checked(data: bytes, source: str, received_at_ms: int) -> tuple[dict[str, Any], Checked] | None:
    """The batch in `data` (inflated JSON) as its `sdk_dropped`-readable envelope and its checked rows, when it
    is the common case; else None (the general path then decides, with its own messages)."""
    try:
        batch: Any = _DECODER.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):  # ValidationError is a DecodeError
        return None
    base = EMPTY_ROW.copy()
    base.update(received_at=received_at_ms, source=source)
    out = Checked()
    rows = out.rows
    for event in batch.events:
        row = base.copy()
        row.update(_as_dict(event))
        nested = row["properties"]
        if nested is not None:
            row.update(_as_dict(nested))
            row["properties"] = None  # the structs hold only fields with a column: nothing is left for it
        row["event"] = _TAGS[type(event)]  # `__struct_config__` makes an object at each access
        rows.append(row)
    clean = (clean_ids("event_id", [row["event_id"] for row in rows])
             and clean_ids("install_id", [row["install_id"] for row in rows]) and clean_texts(rows))
    return ({"events": rows, "dropped": batch.dropped}, out) if clean else None
