"""Uvicorn's HTTP/1.1 protocol (h11) with a deadline for a request's headers: slow clients are cut off.

Uvicorn bounds the wait only between keep-alive requests (`timeout_keep_alive`), and only while the client
sends nothing: a connection that never sends a byte, or sends its headers one byte at a time (slowloris), is
kept open for ever, one file descriptor each. Here a connection waiting for a request (just opened, or after
a response) must have sent the request's whole headers within `header_timeout` seconds, or it is closed. The
body has its own deadline, answered 408 by the collector (`body.read_body`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutProtocol(H11Protocol):
    """`H11Protocol`, closing a connection whose request headers are not complete `header_timeout` s after it
    started waiting for them. Made for one timeout by `with_header_timeout()`."""

    header_timeout: float = 10.0
    _headers_due: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._expect_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget_deadline()
        super().connection_lost(exc)

    def _expect_headers(self) -> None:
        self._forget_deadline()
        if not self.transport.is_closing():
            self._headers_due = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def _forget_deadline(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _headers_overdue(self) -> None:
        self._headers_due = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # the headers came and a request is being served: the body's own deadline applies
        if not self.transport.is_closing():
            self.transport.close()


def with_header_timeout(header_timeout: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class to give `uvicorn.Config(http=...)` for this deadline."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": header_timeout})


#: Largest request line and headers (h11's default, made explicit): more is refused with 431/400.
MAX_HEADER_BYTES = 16 * 1024
#: Seconds an idle keep-alive connection stays open: the SDK flushes every 2 s, so its connection is reused.
KEEP_ALIVE_TIMEOUT = 5
#: Connections the kernel queues before uvicorn accepts them (uvicorn's default, made explicit).
BACKLOG = 2048


def server_options(header_timeout: float) -> dict[str, Any]:
    """The `uvicorn.Config` options every collector runs with (`serve`, and the demo's): headers within
    `header_timeout` (uvicorn itself has no such deadline; the body's own deadline answers 408), at most 16 kB of
    headers, idle keep-alive connections closed after 5 s."""
    return {
        "http": with_header_timeout(header_timeout), "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT, "backlog": BACKLOG,
        # No `limit_concurrency`: uvicorn counts idle and slow connections against it and answers the requests
        # beyond it 503, so slow clients would lock out real senders. Open connections are bounded by the
        # deadlines above and by the process's file descriptor limit.
        "limit_concurrency": None,
    }
