"""The ingestion endpoints: `/v1/batch` (native), `/2/httpapi` (Amplitude HTTP V2), `/blindai` (original servers).

Each request goes through the same steps, and stops at the first that refuses it, having written nothing:
read the body within the limits → parse the JSON → count the events → check the write key → decode the
format → hold every row to the catalogue → charge the per-install rate limit → hand the rows to the writer and
wait for the commit. Only then does it answer 200 (durable acknowledgement). Errors answer in the format's
own shape: Amplitude's `{"code", "error", ...}` on `/2/httpapi`, `{"error", "detail"}` elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from blindai_telemetry.collector import openapi
from blindai_telemetry.collector.body import BodyError, parse_json, read_inflated
from blindai_telemetry.collector.formats import Format, FormatError, amplitude, blindai, native
from blindai_telemetry.collector.metrics import Metrics
from blindai_telemetry.collector.ratelimit import InstallRateLimiter
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.collector.validate import Checked, ValidationError, check_rows
from blindai_telemetry.collector.writer import BatchResult, BufferFull, RowsRefused, Writer
from blindai_telemetry.service import auth
from blindai_telemetry.stores.base import StoreError

logger = logging.getLogger("blindai_telemetry.collector.ingest")
router = APIRouter(tags=["ingestion"])

#: Seconds a sender should wait when the writer's buffer is full or the store failed: a group commit takes
#: milliseconds, so a second is enough for the buffer to drain, and short enough not to pile up a backlog.
RETRY_AFTER_BUSY = 1


class Refused(Exception):
    """A request refused with `status`; `reason` labels the metric, `body` is the format's answer."""

    def __init__(self, status: int, reason: str, body: dict[str, Any], retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.body = body
        self.retry_after = retry_after


def _event_count(payload: Any) -> int:
    if isinstance(payload, list):
        return len(payload)
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        return len(payload["events"])
    return 0


def _check_key(request: Request, fmt: Format, payload: Any) -> None:
    settings: CollectorSettings = request.app.state.settings
    if not settings.write_keys:
        return
    offered = [auth.bearer_token(request), fmt.offered_key(payload, request.query_params)]
    if not any(auth.matches(key, k) for key in offered for k in settings.write_keys):
        raise Refused(401, "write_key", fmt.error(401, "write key required (Authorization: Bearer <key>)"))


@dataclass(frozen=True)
class _Outcome:
    """What became of an accepted request's events."""

    result: BatchResult
    dropped_fields: int
    #: Events dropped whole, by reason: answered as `dropped`, so that `accepted: 0` says why.
    dropped: dict[str, int]
    size: int  # inflated body size, in bytes

    def answer(self, fmt: Format) -> dict[str, Any]:
        """The format's 200 body."""
        return fmt.answer(self.result.inserted + self.result.duplicates, self.result.duplicates,
                          self.dropped_fields, self.dropped, self.size)


async def _ingest(request: Request, fmt: Format) -> _Outcome:
    """Run a request through every step, to its durable commit."""
    writer: Writer = request.app.state.writer
    with writer.arriving():  # the writer may wait for this request to make one larger commit
        payload, checked, size = await _read(request, fmt)
        per_install = _charge(request, fmt, payload, checked)
        try:
            future = writer.submit_rows(checked.rows)
        except BufferFull as exc:
            request.app.state.limiter.give_back(per_install)
            raise Refused(503, "busy", fmt.error(503, f"{exc}; retry later"), RETRY_AFTER_BUSY) from None
    try:
        result = await asyncio.wrap_future(future)
    except (RowsRefused, StoreError) as exc:
        request.app.state.limiter.give_back(per_install)  # nothing was stored: a retry must not be charged twice
        if isinstance(exc, RowsRefused):
            raise Refused(400, "invalid", fmt.error(400, f"the store refused the batch: {exc}")) from None
        raise Refused(503, "store_error", fmt.error(503, "the store is unavailable; retry later"),
                      RETRY_AFTER_BUSY) from None
    metrics: Metrics = request.app.state.metrics
    # Counted once the batch is stored, so that a refused batch and its retry are not counted twice; and not
    # when every event was a duplicate: that is the SDK re-sending a batch whose answer it did not get, and its
    # counters were counted the first time. (A retried batch carrying counters but no event cannot be told
    # apart from a new one: it is counted again.)
    if result.inserted or not checked.rows:
        for reason, n in fmt.sdk_dropped(payload).items():
            metrics.sdk_dropped.labels(reason).inc(n)
    metrics.dropped_fields.inc(checked.dropped_fields)
    metrics.dropped_events.inc(sum(checked.dropped_events.values()))
    metrics.accepted.labels(fmt.source).inc(result.inserted)
    return _Outcome(result, checked.dropped_fields, dict(checked.dropped_events), size)


async def _read(request: Request, fmt: Format) -> tuple[Any, Checked, int]:
    """The request's body within the limits, its key checked, decoded and held to the catalogue: (parsed JSON
    body, checked rows with every drop counted, inflated size)."""
    settings: CollectorSettings = request.app.state.settings
    try:
        data = await read_inflated(request, max_sent=settings.max_body_bytes,
                                   max_inflated=settings.max_inflated_bytes, timeout=settings.body_timeout)
        received_at = int(time.time() * 1000)
        # The format's shortcut for a body with nothing to refuse, drop or count: the checks of the general path
        # run in the same pass as the decoding (formats/typed.py); otherwise the general path below.
        shortcut = fmt.checked(data, received_at)
        payload = parse_json(data) if shortcut is None else shortcut[0]
    except BodyError as exc:
        reason = "too_large" if exc.status == 413 else "bad_body"
        raise Refused(exc.status, reason, fmt.error(exc.status, exc.message)) from None
    count = _event_count(payload)
    if count > settings.max_events_per_batch:
        message = f"{count} events in one request; at most {settings.max_events_per_batch}"
        raise Refused(413, "too_many_events", fmt.error(413, message))
    _check_key(request, fmt, payload)
    checked = _check(request, fmt, payload, received_at) if shortcut is None else shortcut[1]
    return payload, checked, len(data)


def _check(request: Request, fmt: Format, payload: Any, received_at: int) -> Checked:
    """Decode and validate the rows, counting what the decoder and the validation dropped."""
    settings: CollectorSettings = request.app.state.settings
    try:
        # Senders that may send model names in clear: public names pass, others are hashed with the collector's key.
        decoded = fmt.decode(payload, settings.model_name_key)
        checked = check_rows(decoded.rows, source=fmt.source, received_at_ms=received_at, strict=fmt.strict)
    except FormatError as exc:
        raise Refused(exc.status, "invalid", exc.body) from None
    except ValidationError as exc:
        raise Refused(400, "invalid", fmt.error(400, str(exc))) from None
    checked.dropped_fields += decoded.dropped_fields
    checked.dropped_events = decoded.dropped_events + checked.dropped_events
    return checked


def _charge(request: Request, fmt: Format, payload: Any, checked: Checked) -> Counter[str]:
    """Charge the per-install rate limit for the checked rows: how much each install was charged."""
    limiter: InstallRateLimiter = request.app.state.limiter
    per_install = Counter(row["install_id"] for row in checked.rows)
    throttled = limiter.take(per_install)
    if throttled:
        wait = limiter.retry_after(throttled)
        message = f"rate limit: at most {limiter.rate:g} events/s per install"
        body = fmt.throttled(message, throttled, limiter.rate, _event_count(payload))
        raise Refused(429, "rate_limited", body, retry_after=wait)
    return per_install


def _refusal(request: Request, exc: Refused) -> JSONResponse:
    metrics: Metrics = request.app.state.metrics
    metrics.refused.labels(exc.reason).inc()
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    if exc.status == 408:  # the rest of a late body may still be coming: end the connection, not just the request
        headers["Connection"] = "close"
    return JSONResponse(exc.body, status_code=exc.status, headers=headers)


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": text} for status, text in (
        (400, "malformed or invalid; nothing was stored"), (401, "write key required"),
        (408, "the body did not arrive in time"), (413, "too large"), (415, "unsupported Content-Encoding"),
        (429, "rate limited; retry after Retry-After"), (503, "busy or store unavailable; retry after Retry-After"),
    )
}


async def _respond(request: Request, fmt: Format) -> JSONResponse:
    try:
        outcome = await _ingest(request, fmt)
    except Refused as exc:
        return _refusal(request, exc)
    return JSONResponse(outcome.answer(fmt))


@router.post("/v1/batch", openapi_extra=openapi.request_body(openapi.native_batch()), responses=_ERRORS,
             summary="Native batches from the SDK (the schema below; gzip or plain JSON)")
async def native_batch(request: Request) -> JSONResponse:
    return await _respond(request, native.FORMAT)


@router.post("/2/httpapi", openapi_extra=openapi.request_body(openapi.amplitude_batch()), responses=_ERRORS,
             summary="Amplitude HTTP V2 compatible ingestion")
async def amplitude_batch(request: Request) -> JSONResponse:
    return await _respond(request, amplitude.FORMAT)


@router.post("/blindai", openapi_extra=openapi.request_body(openapi.blindai_batch()), responses=_ERRORS,
             summary="The original BlindAI servers' format (a bare array of events)")
async def blindai_batch(request: Request) -> JSONResponse:
    return await _respond(request, blindai.FORMAT)
