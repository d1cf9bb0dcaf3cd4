"""Reading a request body within the limits: size as sent, size inflated, gzip checked, JSON parsed safely.

Every problem becomes a `BodyError` carrying the status to answer and a message naming the problem; nothing
here reads more than the limits allow (a gzip bomb is refused after inflating at most the limit, not all of it).
"""

from __future__ import annotations

import asyncio
import re
import zlib
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request

#: A `\\uD800`-`\\uDBFF` escape not followed by a low surrogate's escape: JSON that names no character.
_LONE_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})")

#: Inflate in slices of this size, so that memory stays bounded whatever the compression ratio.
_INFLATE_SLICE = 256 * 1024


class BodyError(Exception):
    """The body cannot be read: answer `status` with `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: Request, max_bytes: int, timeout: float | None = None) -> bytes:
    """The body as sent, refused with 413 as soon as it passes `max_bytes` (before reading it all), and with 408
    when it has not all arrived within `timeout` seconds (a client sending it byte by byte holds a connection)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BodyError(400, "Content-Length is not a number")
        if int(declared) > max_bytes:
            raise BodyError(413, f"body larger than {max_bytes} bytes as sent")
    try:
        return await asyncio.wait_for(_read_chunks(request, max_bytes), timeout)
    except asyncio.TimeoutError:
        raise BodyError(408, f"the body did not arrive within {timeout:g} s") from None
    except ClientDisconnect:  # nobody is left to answer, but it must not reach the log as a traceback
        raise BodyError(400, "the client disconnected before the end of the body") from None


async def _read_chunks(request: Request, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyError(413, f"body larger than {max_bytes} bytes as sent")
        chunks.append(chunk)
    return b"".join(chunks)


def inflate(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body decoded per its Content-Encoding; gzip inflated incrementally and refused past `max_bytes`."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > max_bytes:
            raise BodyError(413, f"body larger than {max_bytes} bytes")
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise BodyError(415, f"unsupported Content-Encoding {encoding[:20]!r}: send gzip or nothing")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header and trailer required
    out = bytearray()
    pending = body
    try:
        while pending:
            out += inflater.decompress(pending, _INFLATE_SLICE)
            if len(out) > max_bytes:
                raise BodyError(413, f"body larger than {max_bytes} bytes once inflated")
            pending = inflater.unconsumed_tail
    except zlib.error:
        raise BodyError(400, "Content-Encoding is gzip but the body is not valid gzip") from None
    if not inflater.eof:
        raise BodyError(400, "Content-Encoding is gzip but the body is not valid gzip (truncated)")
    if inflater.unused_data:
        raise BodyError(400, "unexpected data after the end of the gzip stream")
    return bytes(out)


def parse_json(data: bytes) -> Any:
    """The JSON document in `data` (UTF-8); raises `BodyError(400)` naming what is wrong."""
    if not data.strip():
        raise BodyError(400, "empty body: expected a JSON document")
    try:
        return msgspec.json.decode(data)
    except RecursionError:
        raise BodyError(400, "invalid JSON: nested too deeply") from None
    except UnicodeDecodeError:
        raise BodyError(400, "invalid JSON: the body is not valid UTF-8") from None
    except msgspec.ValidationError as exc:  # e.g. a number too large for a float
        raise BodyError(400, f"invalid JSON: {exc}") from None
    except msgspec.DecodeError as exc:
        message = str(exc)
        if b"\x00" in data:
            message += " (raw NUL byte)"
        elif _LONE_HIGH_SURROGATE.search(data):  # msgspec calls this one "Input data was truncated"
            message = "a \\u escape is a lone UTF-16 surrogate, which is not a character"
        raise BodyError(400, f"invalid JSON: {message}") from None


async def read_inflated(request: Request, *, max_sent: int, max_inflated: int, timeout: float | None = None) -> bytes:
    """Read (within `timeout` s) and inflate a request's body, within the limits."""
    raw = await read_body(request, max_sent, timeout)
    return inflate(raw, request.headers.get("content-encoding"), max_inflated)


async def read_json(request: Request, *, max_sent: int, max_inflated: int,
                    timeout: float | None = None) -> tuple[Any, int]:
    """Read (within `timeout` s), inflate and parse a request's JSON body; returns the document and its size."""
    data = await read_inflated(request, max_sent=max_sent, max_inflated=max_inflated, timeout=timeout)
    return parse_json(data), len(data)
