"""Wire formats the collector accepts, each decoded into rows of the public `events` table.

Each format is one `Format` object (`native.FORMAT`, `amplitude.FORMAT`, `blindai.FORMAT`), all the ingestion
route knows of it: `decode()` takes the parsed JSON body and returns `Decoded` (rows whose `install_id` the
format chose: the SDK's own id, Amplitude's `user_id` else `device_id`, an old server's uid), or raises
`FormatError` with the format's own error shape; `error()` and `answer()` shape the other answers; `offered_key()`
says where besides the Authorization header a sender of this format can put its write key. The route then passes
the rows through the catalogue validation shared by all formats (defence in depth) before they reach the store.
`checked()` is a format's shortcut past both for a body with nothing to refuse, drop or count (`typed`: decoded
into typed structs and checked in one pass, the same rows; native and Amplitude have one), or None.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # validate imports this package for the drop reasons
    from blindai_telemetry.collector.validate import Checked

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


class Format:
    """One wire format, as the ingestion route sees it; the defaults are the native format's shapes."""

    #: The `source` column of the rows it stores, and the label of its metrics.
    source: str = ""
    #: Strict: a wrong value refuses the batch (our SDK's format); else it is dropped and counted.
    strict: bool = False

    def decode(self, payload: Any, model_name_key: bytes | None) -> Decoded:
        """The rows of a parsed body; `model_name_key` hashes model names a sender may send in clear."""
        raise NotImplementedError

    def checked(self, data: bytes, received_at_ms: int) -> tuple[Any, Checked] | None:
        """A shortcut past `decode` and `validate.check_rows` for a body (inflated JSON) with nothing to refuse,
        drop or count: its payload (as far as `sdk_dropped` and `throttled` read it) and its checked rows, the
        same as the general path would make. None when it does not apply: the general path then runs."""
        return None

    def error(self, status: int, message: str) -> dict[str, Any]:
        """The body of a refusal with `status`."""
        return {"error": message}

    def throttled(self, message: str, installs: Collection[str], rate: float, event_count: int) -> dict[str, Any]:
        """The body of a 429 for `installs` over `rate` events/s."""
        return self.error(429, message)

    def offered_key(self, payload: Any, query: Mapping[str, str]) -> str | None:
        """A write key sent elsewhere than in the Authorization header (senders that cannot set headers)."""
        return None

    def answer(self, accepted: int, duplicates: int, dropped_fields: int, dropped: dict[str, int],
               size: int) -> dict[str, Any]:
        """The 200 body once the batch is stored (docs/wire-format.md)."""
        return {"accepted": accepted, "duplicates": duplicates, "dropped_fields": dropped_fields, "dropped": dropped}

    def sdk_dropped(self, payload: Any) -> dict[str, int]:
        """The sender's own drop counters carried by the batch, by reason (our SDK's only)."""
        return {}


class FormatError(Exception):
    """The body does not follow its format: answer `status` with `body` (JSON), write nothing."""

    def __init__(self, message: str, *, status: int = 400, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if body is not None else {"error": message}
