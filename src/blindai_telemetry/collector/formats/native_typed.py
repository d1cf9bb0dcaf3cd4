"""The native batch decoded into typed structs and held to the catalogue in one pass, for the common case.

A batch from our SDK is almost always entirely sound: every field known, in its place, of its type and range,
every text clean. msgspec decodes such a body straight into one `Struct` per event type (a tagged union on
`event`), built from the catalogue, whose types and `Meta` bounds are the checks `collector.validate` runs: the
type and range of each number, the length of each text, the choices of an enumerated field, the event's own
properties and no others, the envelope. What a struct cannot say is checked here column-wise, each distinct
value once, with `validate`'s own functions: no id or text looks personal or holds a NUL.

Anything else — an unknown field or event, a value out of range, a text to drop — is not handled here: `checked`
returns None and the route runs the general path (`native.decode` + `validate.check_rows`), which names the
problem or drops and counts it. So the fast path never answers differently; it only skips work when there is
nothing to say (in process, 8.3 -> ~3.5 us an event on the ingest benchmark's native batches).
"""

from __future__ import annotations

import operator
import re
from typing import Annotated, Any, Literal, Union

import msgspec

from blindai_telemetry import catalogue
from blindai_telemetry.collector.validate import (
    EMPTY_ROW,
    MAX_TIME_MS,
    Checked,
    field_maximum,
    personal_id,
    personal_text,
)
from blindai_telemetry.stores.base import COLUMN_NAMES

#: A field without a column of its own (stored in `properties`) is not in the structs: the general path takes it.
_COLUMNS = frozenset(COLUMN_NAMES)
_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=catalogue.MAX_STRING_LENGTH)]


def _type(f: catalogue.Field) -> Any:
    """The field's type as a struct holds it (None allowed: `check_rows` skips a null as absent)."""
    if f.type is str:
        kind: Any = Literal[f.choices] if f.choices else _Text  # a value outside the choices: general path
    elif f.type is bool:
        kind = bool
    else:  # msgspec takes an int for a float field as a float, as `check_rows` does
        kind = Annotated[f.type, msgspec.Meta(ge=0, le=field_maximum(f.name))]
    return kind | None


def _event_struct(name: str) -> type[msgspec.Struct]:
    """The struct of one event type: envelope and context at the top level, its own properties in `properties`."""
    properties = msgspec.defstruct(f"{name}_properties", [
        (p, _type(catalogue.FIELDS[p]), None) for p in catalogue.EVENTS[name].properties if p in _COLUMNS],
        forbid_unknown_fields=True)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        ("event_id", _Text), ("time", Annotated[int, msgspec.Meta(ge=0, le=MAX_TIME_MS)]), ("install_id", _Text)]
    fields += [(f.name, _type(f), None) for f in catalogue.CONTEXT_FIELDS
               if f.name != "install_id" and f.name in _COLUMNS]
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
#: Free-text fields, each screened like `check_rows` screens them (every text field without choices); the answer
#: depends on the text alone, so a batch's distinct texts of all these fields are screened once.
_texts_of = operator.itemgetter(*(f.name for f in catalogue.FIELDS.values() if f.type is str and not f.choices
                                  and f.name not in ("event_id", "install_id", "event")))
_as_dict = msgspec.structs.asdict
#: One or more UUIDs, one a line: a column of ids checked in one call (`_all_uuids`).
_UUIDS = re.compile(r"(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\n)*"
                    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


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
    return ({"events": rows, "dropped": batch.dropped}, out) if _clean(rows) else None


def _clean(rows: list[dict[str, Any]]) -> bool:
    """No id or text of `rows` looks personal (as `check_rows` decides it: UUIDs first, then the scrubber), nor
    holds a NUL (a control character to both `personal_id` and `personal_text`)."""
    for name in ("event_id", "install_id"):
        ids = [row[name] for row in rows]
        if not _all_uuids(ids) and any(personal_id(name, value) for value in set(ids)):
            return False
    found: set[str | None] = set()
    for row in rows:
        found.update(_texts_of(row))
    found.discard(None)
    texts: set[str] = found  # type: ignore[assignment]  # None is out
    uuids = [text for text in texts if len(text) == 36]
    if _all_uuids(uuids):  # clients' install ids, new in most events: one call for all of them
        texts.difference_update(uuids)
    return not any(personal_text(text) for text in texts)


def _all_uuids(values: list[str]) -> bool:
    """True when every one of `values` is a UUID (the length rules out a line break inside one)."""
    return not values or (len(joined := "\n".join(values)) == 37 * len(values) - 1 and _UUIDS.fullmatch(joined)
                          is not None)
