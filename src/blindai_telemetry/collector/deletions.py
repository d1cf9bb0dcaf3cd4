"""Deletion on request: `POST /v1/deletions` and `GET /v1/deletions/{id}`.

Who may delete what:
- an operator (admin token; or anyone on a loopback-only collector without a token) may delete any list;
- anyone else may delete a short list (at most `SELF_SERVICE_MAX_IDS`: an install's current and previous ids),
  because an install id is a random UUID known only to its install: knowing it is the capability. No IP to
  key a limit on, so self-service requests share one global token bucket.

The deletion runs on the writer thread, ordered after every batch received before it, and is recorded in the
store (when, how many installs and events; never the ids in clear). Events that arrive later for a deleted
install are new data and are stored: the install may have re-enabled telemetry, and `delete-my-data` is not
an opt-out (disabling is). A deletion the store fails to perform stays `pending` (counted in the metrics);
the ids are not kept anywhere to retry it, so the sender asks again (the CLI reports it as not done).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from blindai_telemetry import catalogue
from blindai_telemetry.collector import openapi
from blindai_telemetry.collector.body import BodyError, read_json
from blindai_telemetry.collector.metrics import Metrics
from blindai_telemetry.collector.ratelimit import TokenBucket
from blindai_telemetry.collector.writer import BufferFull, Writer
from blindai_telemetry.service import auth
from blindai_telemetry.stores.base import Deletion, Store, StoreError

logger = logging.getLogger("blindai_telemetry.collector.deletions")
router = APIRouter(tags=["deletions"])

#: An install's current id and the previous ones `id --reset` left behind (the CLI sends 10 at a time).
SELF_SERVICE_MAX_IDS = 10
#: One operator request may name this many installs (a GDPR batch); the body limit caps it anyway.
ADMIN_MAX_IDS = 10_000
#: Self-service deletions, all senders together: a burst of 20, then one a second.
SELF_SERVICE_RATE, SELF_SERVICE_BURST = 1.0, 20.0
_MAX_BODY = 1_000_000


def self_service_bucket() -> TokenBucket:
    return TokenBucket(SELF_SERVICE_RATE, SELF_SERVICE_BURST)


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if status == 408:  # the rest of a late body may still be coming: end the connection, not just the request
        headers["Connection"] = "close"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _install_ids(payload: Any) -> list[str] | str:
    """The request's install ids (deduplicated, in order), or a message naming the problem."""
    ids = payload.get("install_ids") if isinstance(payload, dict) else None
    if not isinstance(ids, list) or not ids:
        return "install_ids: required, a non-empty array of strings"
    for index, value in enumerate(ids):
        if type(value) is not str or not value or "\x00" in value or len(value) > catalogue.MAX_STRING_LENGTH:
            return f"install_ids[{index}]: expected a non-empty string of at most {catalogue.MAX_STRING_LENGTH}"
    return list(dict.fromkeys(ids))


def _public(d: Deletion) -> dict[str, Any]:
    return {"id": d.id, "status": d.status, "requested_at": d.requested_at_ms, "install_count": d.install_count,
            "done_at": d.done_at_ms, "events_deleted": d.events_deleted}


def _perform(deletion: Deletion, install_ids: list[str], metrics: Metrics, forwarder: Any) -> Any:
    def task(store: Store) -> Deletion:
        if forwarder is not None:
            # First: stop forwarding these installs and ask Amplitude to delete what it has (AmplitudeForwarder).
            forwarder.forget(install_ids)
        try:
            deleted = store.delete_installs(install_ids)
        except Exception:
            metrics.deletions.labels("failed").inc()
            raise  # the writer logs it; the record stays `pending`
        done = dataclasses.replace(deletion, status="done", done_at_ms=int(time.time() * 1000),
                                   events_deleted=deleted)
        store.record_deletion(done)
        metrics.events_deleted.labels("request").inc(deleted)
        metrics.deletions.labels("done").inc()
        return done
    return task


@router.post("/v1/deletions", status_code=202, openapi_extra=openapi.request_body(openapi.deletion_request()),
             responses={400: {"description": "malformed"}, 401: {"description": "admin token required"},
                        429: {"description": "too many self-service deletions"},
                        503: {"description": "store unavailable"}},
             summary="Delete every event of some installs")
async def request_deletion(request: Request) -> JSONResponse:
    metrics: Metrics = request.app.state.metrics
    try:
        payload, _ = await read_json(request, max_sent=_MAX_BODY, max_inflated=_MAX_BODY,
                                     timeout=request.app.state.settings.body_timeout)
    except BodyError as exc:
        return _error(exc.status, exc.message)
    ids = _install_ids(payload)
    if isinstance(ids, str):
        return _error(400, ids)
    operator = auth.is_operator(request)
    if len(ids) > (ADMIN_MAX_IDS if operator else SELF_SERVICE_MAX_IDS):
        if not operator:
            return _error(401, f"more than {SELF_SERVICE_MAX_IDS} install ids needs the admin token")
        return _error(413, f"at most {ADMIN_MAX_IDS} install ids per request")
    if not operator:
        bucket: TokenBucket = request.app.state.deletion_bucket
        wait = bucket.take()
        if wait:
            metrics.deletions.labels("rate_limited").inc()
            return _error(429, "too many deletion requests; retry later", max(1, round(wait + 0.5)))
    deletion = Deletion(id=str(uuid.uuid4()), status="pending", requested_at_ms=int(time.time() * 1000),
                        install_count=len(ids))
    writer: Writer = request.app.state.writer
    try:
        # Recorded first (awaited), so that GET answers `pending` as soon as the 202 is out.
        await asyncio.wrap_future(writer.submit_task(lambda store: store.record_deletion(deletion)))
        writer.submit_task(_perform(deletion, ids, metrics, request.app.state.forwarder))
    except (BufferFull, StoreError):
        metrics.deletions.labels("failed").inc()
        return _error(503, "the store is unavailable; retry later", 1)
    metrics.deletions.labels("requested").inc()
    return JSONResponse({"id": deletion.id, "status": "pending"}, status_code=202)


@router.get("/v1/deletions/{deletion_id}", summary="The state of a deletion request",
            responses={404: {"description": "no such deletion"}, 503: {"description": "store unavailable"}})
async def get_deletion(deletion_id: str, request: Request) -> JSONResponse:
    store: Store = request.app.state.store
    try:
        # Reads may run beside the writer (Store's contract); off the event loop, as they touch the disk.
        deletion = await asyncio.to_thread(store.get_deletion, deletion_id)
    except StoreError:
        return _error(503, "the store is unavailable; retry later", 1)
    if deletion is None:
        return _error(404, "no such deletion")
    return JSONResponse(_public(deletion))
