"""The collector's ASGI application: `create_app(settings, store)` wires the routes, the writer and retention.

The caller owns the store (opens it before and closes it after); the app owns the writer thread, started and
drained in the lifespan: on shutdown (SIGTERM, Ctrl-C) uvicorn first finishes the requests in flight, then
the lifespan stops the writer, which commits everything already handed to it before returning.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from blindai_telemetry import __version__
from blindai_telemetry.collector import deletions, ingest
from blindai_telemetry.collector.access_log import RequestLog
from blindai_telemetry.collector.metrics import CONTENT_TYPE, Metrics
from blindai_telemetry.collector.ratelimit import InstallRateLimiter
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.collector.writer import DEFAULT_MAX_PENDING_EVENTS, BufferFull, Writer
from blindai_telemetry.stores.base import Store, StoreError

if TYPE_CHECKING:
    from blindai_telemetry.collector.forward import AmplitudeForwarder

logger = logging.getLogger("blindai_telemetry.collector")

#: Retention runs at start and then hourly: events are never kept more than an hour past their date.
RETENTION_INTERVAL = 3600.0
#: Longest wait for the writer to commit what it holds at shutdown (uvicorn has drained requests by then).
DRAIN_TIMEOUT = 30.0
_DAY_MS = 86_400_000


def _schedule_retention(app: FastAPI) -> None:
    settings: CollectorSettings = app.state.settings
    metrics: Metrics = app.state.metrics
    cutoff = int(time.time() * 1000) - settings.retention_days * _DAY_MS

    def task(store: Store) -> int:
        deleted = store.delete_older_than(cutoff)
        metrics.events_deleted.labels("retention").inc(deleted)
        return deleted

    with contextlib.suppress(BufferFull):  # shutting down: the next start runs it
        app.state.writer.submit_task(task)


async def _retention_loop(app: FastAPI) -> None:
    while True:
        _schedule_retention(app)
        await asyncio.sleep(RETENTION_INTERVAL)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    writer: Writer = app.state.writer
    forwarder: AmplitudeForwarder | None = app.state.forwarder
    if forwarder is not None:
        forwarder.start()
    writer.start()
    retention = None
    if app.state.settings.retention_days > 0:
        retention = asyncio.create_task(_retention_loop(app))
    logger.info("collector ready")
    try:
        yield
    finally:
        if retention is not None:
            retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention
        drained = await asyncio.to_thread(writer.stop, DRAIN_TIMEOUT)
        if forwarder is not None:
            await asyncio.to_thread(forwarder.stop)  # what is left stays in the outbox for the next start
        logger.info("collector stopped (%s)", "drained" if drained else "writer still busy")


def _forwarder(settings: CollectorSettings) -> AmplitudeForwarder | None:
    if not settings.forward_amplitude_key:
        return None
    from blindai_telemetry.collector.forward import AmplitudeForwarder

    return AmplitudeForwarder(
        settings.forward_amplitude_key, settings.forward_outbox or "./telemetry-forward-outbox.sqlite",
        base_url=settings.forward_amplitude_url, privacy_url=settings.forward_amplitude_privacy_url,
        secret_key=settings.forward_amplitude_secret_key,
    )


def _without_fastapi_telemetry() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry (from 0.165) traces every request, with its body and exception messages, as soon
    as the process has an OpenTelemetry provider or FASTAPI_OTEL_AUTO_CONFIGURE is set: switched off whatever the
    environment, so that nothing about a request leaves the collector but what it answers."""
    if "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                          "auto_configure": False}}


def create_app(settings: CollectorSettings, store: Store, *,
               max_pending_events: int = DEFAULT_MAX_PENDING_EVENTS) -> FastAPI:
    """The collector for `store` (opened and closed by the caller).

    With `settings.forward_amplitude_key`, accepted events are also forwarded to Amplitude from a durable
    outbox (`collector.forward`) filled by the writer in the step that stores them, and deletions reach it too.
    """
    app = FastAPI(
        title="BlindAI Telemetry collector", version=__version__, lifespan=_lifespan,
        # The interactive docs pages load scripts from a CDN; the collector works offline. /openapi.json stays.
        docs_url=None, redoc_url=None, **_without_fastapi_telemetry(),
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.forwarder = _forwarder(settings)
    if app.state.forwarder is not None:
        app.state.forwarder.share_blocks_through(store)
        metrics.watch_forwarder(app.state.forwarder)
    app.state.writer = Writer(store, metrics, max_pending_events=max_pending_events, forwarder=app.state.forwarder)
    app.state.limiter = InstallRateLimiter(settings.rate_limit_per_s, settings.rate_window)
    app.state.deletion_bucket = deletions.self_service_bucket()
    app.add_middleware(RequestLog)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # Every refusal names its problem under "error", as ingestion does ("detail" kept for FastAPI users).
        # Starlette's class, which FastAPI's subclasses: the router's own 404 and 405 answer in this shape too.
        return JSONResponse({"error": exc.detail, "detail": exc.detail}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        # A read of the dashboard or the query API failed in the store: unavailable, not a server bug.
        logger.warning("store error on %s: %s", request.url.path, type(exc).__name__)
        return JSONResponse({"error": "the store is unavailable; retry later"}, status_code=503,
                            headers={"Retry-After": "1"})

    @app.get("/healthz", tags=["operations"], summary="200 once the collector accepts events")
    async def healthz() -> JSONResponse:
        if app.state.writer.accepting:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable"}, status_code=503, headers={"Retry-After": "1"})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics_page() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app.include_router(ingest.router)
    app.include_router(deletions.router)
    from blindai_telemetry.dashboard.api import router as dashboard_router

    app.include_router(dashboard_router)
    from blindai_telemetry.publish.api import router as publish_router  # issue 12: publish --url

    app.include_router(publish_router)
    return app
