"""The native wire format (`POST /v1/batch`, docs/wire-format.md): the SDK's own batches.

The batch's events are already shaped like rows of the `events` table (context at the top level, event
properties in `properties`), so decoding checks the envelope and hands the events on; the catalogue checks
that follow (`collector.validate`, strict mode) name any field that breaks the catalogue.
"""

from __future__ import annotations

from typing import Any

from blindai_telemetry.collector.formats import Decoded, Format, FormatError, native_typed
from blindai_telemetry.collector.validate import Checked

SCHEMA_VERSION = 1
#: Top-level batch keys this version knows; others are ignored and counted (schema-evolution rules).
_BATCH_KEYS = frozenset({"schema_version", "sent_at", "dropped", "events"})
#: The SDK's drop reasons (docs/wire-format.md); a fixed list so that a sender cannot grow the metric's labels.
DROP_REASONS = ("queue_full", "unknown_event", "unknown_property", "invalid_value", "spool_full")


def decode(payload: Any) -> Decoded:
    """Check a native batch's envelope and return its events as rows (not yet held to the catalogue)."""
    if not isinstance(payload, dict):
        raise FormatError("the body must be a JSON object with an `events` array")
    version = payload.get("schema_version", SCHEMA_VERSION)
    if type(version) is not int or version < 1:
        raise FormatError("schema_version: expected a positive integer")
    events = payload.get("events")
    if not isinstance(events, list):
        raise FormatError("events: required, an array of event objects")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise FormatError(f"events[{index}]: expected an object")
    dropped = payload.get("dropped")
    if dropped is not None and not isinstance(dropped, dict):
        raise FormatError("dropped: expected an object of counters")
    sent_at = payload.get("sent_at")
    if sent_at is not None and type(sent_at) is not int:
        raise FormatError("sent_at: expected an integer of Unix milliseconds")
    unknown = sum(1 for key in payload if key not in _BATCH_KEYS)
    return Decoded(rows=events, dropped_fields=unknown)


def sdk_dropped(payload: Any) -> dict[str, int]:
    """The SDK's own drop counters from a decoded batch (counters only, never contents)."""
    dropped = payload.get("dropped") if isinstance(payload, dict) else None
    if not isinstance(dropped, dict):
        return {}
    return {
        key: value for key in DROP_REASONS
        if type(value := dropped.get(key)) is int and 0 < value < 2**53
    }


class _Native(Format):
    source = "native"
    strict = True  # the only sender is our SDK: a wrong value is a bug to name, not data to drop

    def decode(self, payload: Any, model_name_key: bytes | None) -> Decoded:
        return decode(payload)  # the SDK applies the model-name policy itself

    def checked(self, data: bytes, received_at_ms: int) -> tuple[Any, Checked] | None:
        return native_typed.checked(data, self.source, received_at_ms)

    def sdk_dropped(self, payload: Any) -> dict[str, int]:
        return sdk_dropped(payload)


FORMAT: Format = _Native()
