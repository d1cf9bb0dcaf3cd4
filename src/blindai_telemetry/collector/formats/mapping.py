"""What the two foreign formats (the original BlindAI servers', Amplitude's) share to map one event into a row.

An event's error (`EventError`, naming the field), a catalogue field's value as its column stores it, the
sender's `time` in ms, and the name-based event id that makes a replayed batch deduplicate.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from blindai_telemetry import catalogue
from blindai_telemetry.stores import MAX_TIME_MS
from blindai_telemetry.stores.base import COLUMN_NAMES, EVENT_COLUMNS

#: A `time` below this is seconds, at or above it milliseconds (on every route): 10^11 s is in the year 5138 and
#: 10^11 ms in 1973, so no real time is ambiguous, and a sender that mixes units is still read right.
MS_THRESHOLD = 10**11

_NAMESPACE = uuid.UUID("6b1f4f0e-2d7c-5b8e-9c41-0a6f3e2d1b70")
_NAMESPACE_BYTES = _NAMESPACE.bytes

_INT_BOUNDS = {"INTEGER": 2**31, "BIGINT": 2**63}
_COLUMN_TYPES = {c.name: c.type for c in EVENT_COLUMNS}
_COLUMNS = frozenset(COLUMN_NAMES)
#: `content_id`'s canonical JSON; one encoder for every call (`json.dumps` with options builds one each time).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


class EventError(ValueError):
    """One event does not follow the format; `field` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def catalogue_value(name: str, value: Any) -> Any:
    """`value` as the catalogue field `name` stores it, or None when it has the wrong type or range.

    Only the JSON type is checked here (so that a value always fits its column); choices, lengths and the
    scrubber are the shared catalogue validation's job.
    """
    spec = catalogue.FIELDS.get(name)
    if spec is None or value is None:
        return None
    if spec.type is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):  # bool is an int in Python, never in the catalogue
        return None
    if spec.type is str:
        return value if isinstance(value, str) else None
    if spec.type is int:
        bound = _INT_BOUNDS.get(_COLUMN_TYPES.get(name, "BIGINT"), 2**63)
        return value if isinstance(value, int) and -bound <= value < bound else None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


def put(row: dict[str, Any], name: str, value: Any) -> None:
    """Set a catalogue field on a row: in its column, or in `properties` when it has none."""
    if name in _COLUMNS:
        row[name] = value
    else:
        row.setdefault("properties", {})[name] = value


def time_ms(value: Any) -> int:
    """An event's `time` as Unix ms: seconds below 10^11 (the original servers' unit), milliseconds above."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise EventError("time", "'time' must be a non-negative integer")
    ms = value * 1000 if value < MS_THRESHOLD else value
    if ms > MAX_TIME_MS:
        raise EventError("time", "'time' is beyond the year 9999")
    return ms


def content_id(material: Any, occurrence: int = 0) -> str:
    """A name-based UUID of `material`'s canonical JSON; `occurrence` tells identical events of a batch apart."""
    try:
        # ensure_ascii: a lone surrogate (valid in JSON) must not break the UTF-8 encoding uuid5 does.
        canonical = _CANONICAL.encode(material)
    except (RecursionError, ValueError, TypeError) as exc:
        raise EventError("event", "the event cannot be encoded (nested too deeply?)") from exc
    if occurrence:
        canonical += f"#{occurrence}"
    return uuid5(canonical)


#: Text that JSON writes as it is between its quotes: printable ASCII but `"` and `\\`.
_PLAIN = re.compile(r'[ !#-\[\]-~]*').fullmatch


def insert_id_key(scope: str, insert_id: str) -> str:
    """`content_id(["insert_id", scope, insert_id])`: an Amplitude event's id from its dedup scope and insert_id.

    When both are plain text (UUIDs, as senders make them), their canonical JSON is written directly: the encoder
    was ~1 us of the id's ~2.5 on the Amplitude route (the same ids: a property test holds the two together)."""
    if _PLAIN(scope) is not None and _PLAIN(insert_id) is not None:
        return uuid5(f'["insert_id","{scope}","{insert_id}"]')
    return content_id(["insert_id", scope, insert_id])


def uuid5(name: str) -> str:
    """`str(uuid.uuid5(_NAMESPACE, name))`, computed without the `UUID` object, which was 2 of its 3 us."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def disambiguate(rows: Iterable[dict[str, Any]], material: Mapping[int, Any]) -> None:
    """Give the 2nd, 3rd... identical event of one batch its own id; the batch replayed gets the same ids."""
    seen: Counter[str] = Counter()
    for index, row in enumerate(rows):
        if index not in material:
            continue
        base = row["event_id"]
        if seen[base]:
            row["event_id"] = content_id(material[index], seen[base])
        seen[base] += 1
