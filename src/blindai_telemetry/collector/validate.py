"""Catalogue validation shared by every wire format: the last check before a row reaches the store.

Decoders turn their format into rows of the `events` table; this module holds every row to the catalogue
again (defence in depth, whoever sent it): unknown events and fields are dropped and counted, types and ranges
are checked, free text is scrubbed, strings are capped. In *strict* mode (the native format, whose only sender
is our SDK) a wrongly typed or oversized value refuses the whole batch with a message naming it; in lenient
mode (formats from senders we do not control) the value is dropped and counted instead.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from blindai_telemetry import catalogue
from blindai_telemetry.collector.scrub import looks_personal
from blindai_telemetry.stores.base import COLUMN_NAMES

#: Unix ms of 9999-12-31T23:59:59.999Z: the last instant every store can represent.
MAX_TIME_MS = 253_402_300_799_999
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_REQUIRED = ("event_id", "event", "time", "install_id")
_COLUMNS = frozenset(COLUMN_NAMES)
_INT_LIMITS = {"cpu_count": _INT32_MAX}


class ValidationError(Exception):
    """A value breaks the catalogue (strict mode only): the batch is refused with this message."""


@dataclass
class Checked:
    rows: list[dict[str, Any]] = field(default_factory=list)
    dropped_fields: int = 0
    dropped_events: int = 0


_INVALID = object()


@dataclass(frozen=True)
class _Spec:
    """How one field is checked for one event (precomputed: the check runs for every field of every event)."""

    field: catalogue.Field
    column: bool  # stored in its own column, else in `properties`
    choices: frozenset[str] | None
    maximum: int


def _specs(event: str) -> dict[str, _Spec]:
    names = catalogue.CONTEXT_NAMES | catalogue.allowed_properties(event)
    return {
        name: _Spec(catalogue.FIELDS[name], name in _COLUMNS,
                    frozenset(catalogue.FIELDS[name].choices or ()) or None, _INT_LIMITS.get(name, _INT64_MAX))
        for name in names if name not in _REQUIRED
    }


#: Per event: the fields it may carry (context on every event, its own properties) and how to check them.
_PLANS: dict[str, dict[str, _Spec]] = {name: _specs(name) for name in catalogue.EVENTS}


def _check(spec: _Spec, value: Any) -> Any:
    """`value` converted to the field's type, or `_INVALID` with no exception (the hot path)."""
    kind = spec.field.type
    if kind is str:
        if type(value) is not str or not value or "\x00" in value:
            return _INVALID
        if spec.choices is not None and value not in spec.choices:
            return _INVALID
        return value
    if kind is bool:
        return value if type(value) is bool else _INVALID
    if kind is int:
        if type(value) is not int or value < 0 or value > spec.maximum:
            return _INVALID
        return value
    # float fields accept JSON integers too; NaN and infinities cannot be stored or compared.
    if type(value) is int:
        value = float(value)
    if type(value) is not float or not math.isfinite(value) or value < 0:
        return _INVALID
    return value


@functools.lru_cache(maxsize=4096)
def _personal(value: str) -> bool:
    # Cached: the same model names arrive in batch after batch, and the scrubber runs several patterns.
    return looks_personal(value)


def _describe(f: catalogue.Field) -> str:
    if f.choices:
        return "one of " + ", ".join(f.choices)
    article = "an" if f.json_type()[0] in "aeiou" else "a"
    return f"{article} {f.json_type()}" + ("" if f.type in (str, bool) else " >= 0")


def _required(row: Mapping[str, Any], where: str) -> str | None:
    """The problem with the envelope of `row`, or None when it is sound."""
    for name in ("event_id", "install_id"):
        value = row.get(name)
        if type(value) is not str or not value or "\x00" in value:
            return f"{where}.{name}: required, a non-empty string"
        if len(value) > catalogue.MAX_STRING_LENGTH:
            return f"{where}.{name}: longer than {catalogue.MAX_STRING_LENGTH} characters"
    if type(row.get("event")) is not str:
        return f"{where}.event: required, a string"
    time = row.get("time")
    if type(time) is not int or not 0 <= time <= MAX_TIME_MS:
        return f"{where}.time: required, an integer of Unix milliseconds"
    return None


def check_rows(
    rows: Iterable[Mapping[str, Any]], *, source: str, received_at_ms: int, strict: bool
) -> Checked:
    """Hold decoded rows to the catalogue; raises `ValidationError` in strict mode only."""
    out = Checked()
    max_len = catalogue.MAX_STRING_LENGTH
    for index, row in enumerate(rows):
        where = f"events[{index}]"
        problem = _required(row, where)
        if problem is not None:
            if strict:
                raise ValidationError(problem)
            out.dropped_events += 1
            continue
        event = row["event"]
        if event not in _PLANS:
            # An event this collector does not know (a newer SDK, or junk): dropped and counted, not an error,
            # so that an old collector still stores what it knows of a newer sender's batch.
            out.dropped_events += 1
            continue
        clean: dict[str, Any] = {
            "event_id": row["event_id"], "event": event, "time": row["time"], "install_id": row["install_id"],
            "received_at": received_at_ms, "source": source,
        }
        extra: dict[str, Any] = {}
        plan = _PLANS[event]
        items: list[tuple[str, Any]] = list(row.items())
        top = len(items)  # items past this index come from `properties`
        nested = row.get("properties")
        if nested is not None:
            if isinstance(nested, Mapping):
                items.extend(nested.items())
            elif strict:
                raise ValidationError(f"{where}.properties: expected an object")
            else:
                out.dropped_fields += 1
        for position, (key, item) in enumerate(items):
            if item is None:
                continue
            if key == "properties" or key in clean:
                if position >= top:
                    out.dropped_fields += 1  # an envelope field repeated in `properties`: not taken from there
                continue
            spec = plan.get(key)
            if spec is None:
                out.dropped_fields += 1  # not in the catalogue, or not a property of this event
                continue
            checked = _check(spec, item)
            if checked is _INVALID:
                # A value outside a field's choices is dropped even in strict mode: a newer SDK may know
                # more modes or error kinds than this collector.
                if strict and not (spec.choices and type(item) is str):
                    raise ValidationError(f"{where}.{key}: expected {_describe(spec.field)}")
                out.dropped_fields += 1
                continue
            if type(checked) is str and len(checked) > max_len:
                if strict:
                    raise ValidationError(f"{where}.{key}: longer than {max_len} characters")
                checked = checked[:max_len]
            if spec.field.scrub and _personal(checked):
                out.dropped_fields += 1  # looks like an address or a path: never stored
                continue
            if spec.column:
                clean[key] = checked
            else:
                extra[key] = checked
        clean["properties"] = extra or None
        out.rows.append(clean)
    return out
