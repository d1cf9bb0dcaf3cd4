"""Catalogue validation shared by every wire format: the last check before a row reaches the store.

Decoders turn their format into rows of the `events` table; this module holds every row to the catalogue
again (defence in depth, whoever sent it): unknown events and fields are dropped and counted, types and ranges
are checked, free text is scrubbed, strings are capped. In *strict* mode (the native format, whose only sender
is our SDK) a wrongly typed or oversized value refuses the whole batch with a message naming it; in lenient
mode (formats from senders we do not control) the value is dropped and counted instead.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from blindai_telemetry import catalogue
from blindai_telemetry.collector.formats import INVALID_EVENT, UNKNOWN_EVENT
from blindai_telemetry.collector.scrub import id_looks_personal, is_uuid, looks_personal
from blindai_telemetry.stores import MAX_TIME_MS  # the last instant every store can represent
from blindai_telemetry.stores._rows import CheckedRows
from blindai_telemetry.stores.base import COLUMN_NAMES

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_REQUIRED = ("event_id", "event", "time", "install_id")
_COLUMNS = frozenset(COLUMN_NAMES)
#: A row with every column NULL: each checked row starts as a copy, so the stores get complete rows
#: (`CheckedRows`) and need not fill or re-check them.
EMPTY_ROW: dict[str, Any] = dict.fromkeys(COLUMN_NAMES)
#: Top-level keys that are the row's envelope (or hold its properties), not fields to check.
_ENVELOPE = frozenset((*_REQUIRED, "received_at", "source", "properties"))
_NOTHING: frozenset[str] = frozenset()
_INT_LIMITS = {"cpu_count": _INT32_MAX}
#: Finite and non-negative: NaN fails every comparison, so `0 <= x <= _FLOAT_MAX` also refuses NaN and inf.
_FLOAT_MAX = 1.7976931348623157e308


class ValidationError(Exception):
    """A value breaks the catalogue (strict mode only): the batch is refused with this message."""


@dataclass
class Checked:
    rows: CheckedRows = field(default_factory=CheckedRows)
    dropped_fields: int = 0
    #: Events dropped whole, by reason (`formats.UNKNOWN_EVENT`, `formats.INVALID_EVENT`).
    dropped_events: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Spec:
    """How one field is checked for one event (precomputed: the check runs for every field of every event)."""

    field: catalogue.Field
    kind: type
    column: bool  # stored in its own column, else in `properties`
    choices: frozenset[str] | None
    maximum: float  # of a number: its column's bound, `_FLOAT_MAX` for a float
    #: Every free-text field (not only those the SDK rewrites, the catalogue's `scrub`) is screened for personal
    #: data: the collector also hears from senders that do not scrub, and it drops rather than rewrites.
    scrub: bool


def field_maximum(name: str) -> float:
    """The largest value the number field `name` may hold: its column's bound (the smallest is 0)."""
    return _FLOAT_MAX if catalogue.FIELDS[name].type is float else _INT_LIMITS.get(name, _INT64_MAX)


def screened(f: catalogue.Field) -> bool:
    """Whether the field's text is screened for personal data: every free-text field (no choices)."""
    return f.type is str and not f.choices


def _specs(event: str) -> dict[str, _Spec]:
    names = catalogue.CONTEXT_NAMES | catalogue.allowed_properties(event)
    out = {}
    for name in names - set(_REQUIRED):
        f = catalogue.FIELDS[name]
        out[name] = _Spec(f, f.type, name in _COLUMNS, frozenset(f.choices) if f.choices else None,
                          field_maximum(name), screened(f))
    return out


#: Per event: the fields it may carry (context on every event, its own properties) and how to check them.
_PLANS: dict[str, dict[str, _Spec]] = {name: _specs(name) for name in catalogue.EVENTS}


#: Answers of the scrubber for values seen before: versions, platform names and model names arrive in batch after
#: batch, and the scrubber runs many patterns. A plain dict (a hit is one look-up; `lru_cache` cost a few
#: tenths of a microsecond more on each of an event's dozen text fields), emptied when full.
_PERSONAL: dict[str, bool] = {}
_PERSONAL_MAX = 8192


def personal_text(value: str) -> bool:
    """True when a free-text value looks like personal data (`scrub.looks_personal`), remembered."""
    known = _PERSONAL.get(value)
    if known is not None:
        return known
    # UUIDs are not remembered: a client's install id is new in most events (scanning each took the check from
    # 5 to 27 us an event), and they would only push the repeated values out.
    if is_uuid(value):
        return False
    answer = looks_personal(value)
    if len(_PERSONAL) >= _PERSONAL_MAX:
        _PERSONAL.clear()
    _PERSONAL[value] = answer
    return answer


@functools.lru_cache(maxsize=4096)
def _personal_id(value: str) -> bool:
    return id_looks_personal(value)


def personal_id(name: str, value: str) -> bool:
    """True when the id `value` of the envelope field `name` (event_id, install_id) looks like personal data."""
    # UUIDs first, outside the memo; then event ids are new with every event (a memo would only churn), while
    # other ids repeat batch after batch.
    return not is_uuid(value) and (id_looks_personal(value) if name == "event_id" else _personal_id(value))


def _describe(f: catalogue.Field) -> str:
    if f.choices:
        return "one of " + ", ".join(f.choices)
    article = "an" if f.json_type()[0] in "aeiou" else "a"
    return f"{article} {f.json_type()}" + ("" if f.type in (str, bool) else " >= 0")


def _required(row: Mapping[str, Any], index: int) -> str | None:
    """The problem with the envelope of `row`, or None when it is sound."""
    for name in ("event_id", "install_id"):
        value = row.get(name)
        if type(value) is not str or not value or "\x00" in value:
            return f"events[{index}].{name}: required, a non-empty string"
        if len(value) > catalogue.MAX_STRING_LENGTH:
            return f"events[{index}].{name}: longer than {catalogue.MAX_STRING_LENGTH} characters"
        if personal_id(name, value):
            return f"events[{index}].{name}: looks like an address, a path or a secret"
    if type(row.get("event")) is not str:
        return f"events[{index}].event: required, a string"
    time = row.get("time")
    if type(time) is not int or not 0 <= time <= MAX_TIME_MS:
        return f"events[{index}].time: required, an integer of Unix milliseconds"
    return None


def check_rows(
    rows: Iterable[Mapping[str, Any]], *, source: str, received_at_ms: int, strict: bool
) -> Checked:
    """Hold decoded rows to the catalogue; raises `ValidationError` in strict mode only."""
    out = Checked()
    memo: dict[str, dict[str, Any]] = {}
    for index, row in enumerate(rows):
        problem = _required(row, index)
        if problem is not None:
            if strict:
                raise ValidationError(problem)
            out.dropped_events[INVALID_EVENT] += 1
            continue
        event = row["event"]
        plan = _PLANS.get(event)
        if plan is None:
            # An event this collector does not know (a newer SDK, or junk): dropped and counted, not an error,
            # so that an old collector still stores what it knows of a newer sender's batch.
            out.dropped_events[UNKNOWN_EVENT] += 1
            continue
        nested = row.get("properties")
        if nested is not None and not isinstance(nested, Mapping):
            if strict:
                raise ValidationError(f"events[{index}].properties: expected an object")
            out.dropped_fields += 1
            nested = None
        clean = EMPTY_ROW.copy()
        clean.update(event_id=row["event_id"], event=event, time=row["time"], install_id=row["install_id"],
                     received_at=received_at_ms, source=source)
        extra: dict[str, Any] = {}
        out.dropped_fields += _check_fields(row.items(), _ENVELOPE, plan, memo, clean, extra, index, strict)
        if nested:
            out.dropped_fields += _check_fields(nested.items(), _NOTHING, plan, memo, clean, extra, index, strict)
        clean["properties"] = extra or None
        out.rows.append(clean)
    return out


def _check_fields(items: Iterable[tuple[str, Any]], skip: frozenset[str], plan: dict[str, _Spec],
                  memo: dict[str, dict[str, Any]], clean: dict[str, Any], extra: dict[str, Any], index: int,
                  strict: bool) -> int:
    """Check `items` (nulls and `skip` left out) into `clean` (columns) or `extra` (`properties`); how many were
    dropped. Each distinct text of a field is checked once a batch (`memo`): the batch's events repeat their
    context (app, versions, platform...), and a field's spec depends on its name alone (see `_specs`)."""
    dropped = 0
    for key, value in items:
        if value is None or key in skip:
            continue
        spec = plan.get(key)
        if spec is None:
            dropped += 1  # not in the catalogue, not a property of this event, or misplaced
            continue
        kind = type(value)
        if kind is str:
            # One dict per field rather than one keyed by (field, text): no tuple made per text (7.0 -> 6.6 us an
            # event in check_rows, native batches of this collector's benchmark).
            texts = memo.get(key)
            if texts is None:
                texts = memo[key] = {}
            known = texts.get(value)
            if known is None:
                known = texts[value] = _checked_value(spec, key, value, index, strict)
            value = known
        elif not (kind is spec.kind and (kind is bool or 0 <= value <= spec.maximum)):
            # A number or bool of the field's own type and range is stored as it is (the common case, checked
            # inline); anything else is converted, dropped or refused by `_checked_value`.
            value = _checked_value(spec, key, value, index, strict)
        if value is _DROPPED:
            dropped += 1
        elif spec.column:
            clean[key] = value
        else:
            extra[key] = value
    return dropped


#: What `_checked_value` returns for a value to drop (and count).
_DROPPED: Any = object()


def _checked_value(spec: _Spec, key: str, value: Any, index: int, strict: bool) -> Any:
    """`value` as stored for the field `spec`, or `_DROPPED`; raises `ValidationError` in strict mode."""
    # The type checks are inlined: this runs for every field of every event.
    kind, t = spec.kind, type(value)
    if kind is str:
        ok = t is str and value != "" and "\x00" not in value and (spec.choices is None or value in spec.choices)
    elif kind is float:
        if t is int and -_FLOAT_MAX <= value <= _FLOAT_MAX:  # a larger JSON integer is no double: refused below
            value, t = float(value), float
        ok = t is float and 0.0 <= value <= _FLOAT_MAX
    elif kind is int:
        ok = t is int and 0 <= value <= spec.maximum
    else:
        ok = t is bool
    if not ok:
        # A value outside a field's choices is dropped even in strict mode: a newer SDK may know more modes or
        # error kinds than this collector.
        if strict and not (spec.choices and t is str):
            raise ValidationError(f"events[{index}].{key}: expected {_describe(spec.field)}")
        return _DROPPED
    if t is str:
        if len(value) > catalogue.MAX_STRING_LENGTH:
            if strict:
                raise ValidationError(f"events[{index}].{key}: longer than {catalogue.MAX_STRING_LENGTH} characters")
            value = value[:catalogue.MAX_STRING_LENGTH]
        if spec.scrub and personal_text(value):
            return _DROPPED  # looks like an address, a path or a secret: never stored
    return value
