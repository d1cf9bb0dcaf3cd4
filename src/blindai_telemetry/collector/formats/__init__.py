"""Wire formats the collector accepts, each decoded into rows of the public `events` table.

A decoder takes the parsed JSON body and returns `Decoded`; it checks what its format requires (and raises
`FormatError` with the format's own error shape), then the app passes the rows through the catalogue
validation shared by all formats (defence in depth) before they reach the store.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: Why an event was dropped whole (the `dropped` object of an ingestion response, docs/wire-format.md).
UNKNOWN_EVENT = "unknown_event"
INVALID_EVENT = "invalid_event"


@dataclass
class Decoded:
    #: Rows keyed by `stores.base.COLUMN_NAMES`; `time` in Unix ms; remaining properties in `properties`.
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: Fields the decoder dropped because the catalogue does not know them.
    dropped_fields: int = 0
    #: Events the decoder dropped whole (unknown event type), counted by reason, not an error.
    dropped_events: Counter[str] = field(default_factory=Counter)


class FormatError(Exception):
    """The body does not follow its format: answer `status` with `body` (JSON), write nothing."""

    def __init__(self, message: str, *, status: int = 400, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if body is not None else {"error": message}
