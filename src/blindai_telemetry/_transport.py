"""The `Transport` role (one batch in, one `SendResult` out), its outcomes, and the fakes the package ships.

A transport turns the worker's native batch into the bytes it puts on the wire (`encode`, called once per
attempt so that the debug output and the transparency log show exactly those bytes) and delivers them
(`send`). It never raises: every failure is an outcome the worker knows how to handle.
"""

from __future__ import annotations

import enum
import json
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TextIO


class Outcome(enum.Enum):
    OK = "ok"
    #: A transient failure (network error, 5xx, 429): send the same batch again later.
    RETRY = "retry"
    #: The receiver refused the batch for good (400/401/403): never send it again; its events are counted lost.
    DROP = "drop"
    #: 413: the worker splits the batch in two and sends each half.
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class SendResult:
    """What became of one attempt to send a batch. Use `SendResult.OK`, `.DROP`, `.TOO_LARGE`, `.retry(s)`."""

    outcome: Outcome
    #: Seconds the receiver asked us to wait (`Retry-After`), for RETRY only.
    retry_after: float | None = None
    #: HTTP status when there was one (for the log and the stats), else None (network error, fake).
    status: int | None = None
    #: Why there was no answer, in a few words for `status` ("connection refused"); never an address.
    error: str | None = None

    OK: ClassVar[SendResult]
    DROP: ClassVar[SendResult]
    TOO_LARGE: ClassVar[SendResult]

    @classmethod
    def retry(cls, retry_after: float | None = None, status: int | None = None,
              error: str | None = None) -> SendResult:
        return cls(Outcome.RETRY, retry_after, status, error)


SendResult.OK = SendResult(Outcome.OK)
SendResult.DROP = SendResult(Outcome.DROP)
SendResult.TOO_LARGE = SendResult(Outcome.TOO_LARGE)


def dumps(obj: Any) -> bytes:
    """Compact JSON, NaN refused: the one serialisation used for everything that leaves the process."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


class Transport:
    """Delivers batches. Subclasses implement `send`; `encode` defaults to the native `/v1/batch` JSON."""

    #: Short name written to the transparency log ("http", "amplitude", "memory", "debug").
    name: ClassVar[str] = "transport"
    #: Where batches go, for the transparency log and `status` (None for fakes).
    endpoint: str | None = None

    def encode(self, batch: Mapping[str, Any]) -> bytes:
        """The exact bytes (before any content encoding) this transport sends for `batch`."""
        return dumps(batch)

    def send(self, body: bytes, timeout: float) -> SendResult:  # pragma: no cover - abstract
        """Deliver `body` within `timeout` seconds. Must not raise."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections. Safe to call more than once."""


class InMemoryTransport(Transport):
    """Records every payload it receives and answers with scripted outcomes (default: always OK).

    `outcomes` is a sequence consumed one per `send`; when it runs out, `default` answers. Use it in tests:
    `InMemoryTransport([SendResult.retry(0.0), SendResult.OK])` fails once, then accepts.
    """

    name = "memory"

    def __init__(self, outcomes: Iterable[SendResult] = (), default: SendResult = SendResult.OK) -> None:
        self._outcomes = list(outcomes)
        self.default = default
        # Bodies as received, decoded when read: decoding on the worker would bill the sender for the receiver's
        # work (a third of the SDK's CPU per event in benchmarks.sdk).
        self._bodies: list[tuple[bytes, bool]] = []
        self._decoded: list[tuple[dict[str, Any], bool]] = []
        self._lock = threading.RLock()
        self.received = threading.Condition(self._lock)

    def _received(self) -> list[tuple[dict[str, Any], bool]]:
        with self._lock:  # re-entrant: tests read `payloads` inside `received.wait_for(...)`
            self._decoded.extend((json.loads(body), ok) for body, ok in self._bodies[len(self._decoded):])
            return list(self._decoded)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """Every payload received, decoded, in order (including those answered RETRY/DROP)."""
        return [payload for payload, _ in self._received()]

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The payloads answered OK: what a receiver would have stored."""
        return [payload for payload, ok in self._received() if ok]

    def answer(self, *outcomes: SendResult) -> None:
        """Queue more scripted outcomes."""
        with self._lock:
            self._outcomes.extend(outcomes)

    def send(self, body: bytes, timeout: float) -> SendResult:
        with self._lock:
            result = self._outcomes.pop(0) if self._outcomes else self.default
            self._bodies.append((bytes(body), result.outcome is Outcome.OK))
            self.received.notify_all()
        return result

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event of the delivered payloads, in order."""
        return [e for p in self.delivered for e in p.get("events", [])]


class DebugTransport(Transport):
    """`BLINDAI_TELEMETRY_DEBUG=1`: print each batch to stderr as one `[telemetry] <json>` line; send nothing."""

    name = "debug"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, body: bytes, timeout: float) -> SendResult:
        stream = self._stream or sys.stderr  # looked up late so that pytest's capture and redirects apply
        try:
            stream.write("[telemetry] " + body.decode("utf-8") + "\n")
            stream.flush()
        except (OSError, ValueError):  # closed or broken stderr: nothing to print to, and nothing is sent
            pass
        return SendResult.OK
