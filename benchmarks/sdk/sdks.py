"""The SDKs under test, each behind the same small face: the natural call a host app makes per event, and flush/shutdown.

Every SDK tracks the same event (`model_run` with the same four properties) to the same endpoint, with its
defaults except where a default would contact a third party or do extra work the others do not (posthog's
GeoIP and exception autocapture are off). The *floor* is the least any in-process queue can cost: build the
event dict and append it to a bounded deque.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import sink

OURS, FLOOR = sink.OURS, "floor"
PEERS = (sink.POSTHOG, sink.AMPLITUDE, sink.SEGMENT, sink.OTEL)
ALL = (OURS, FLOOR, *PEERS)

EVENT = "model_run"
PROPERTIES: dict[str, Any] = {"model_name": "resnet50", "duration_ms": 12.5, "input_bytes": 1024, "ok": True}
#: One anonymous id for the peers that require a user (ours makes its own install id).
DISTINCT_ID = str(uuid.UUID(int=0x5EED))


@dataclass
class Subject:
    """One SDK set up against one endpoint.

    `call` makes one event the way a host app would (argument building included: that is part of what the
    caller's thread pays). `flush`/`shutdown` are the SDK's own, unbounded: callers that must not hang wrap them
    with `bounded()`. `counted_drops` says how many events the SDK itself admits to having dropped (None: it
    has no such count).
    """

    name: str
    call: Callable[[], Any]
    flush: Callable[[float], Any]
    shutdown: Callable[[float], Any]
    counted_drops: Callable[[], int | None] = field(default=lambda: None)


def bounded(action: Callable[[float], Any], timeout: float) -> bool:
    """Run a possibly hanging flush/shutdown on a daemon thread; True when it returned within `timeout`."""
    worker = threading.Thread(target=action, args=(timeout,), name="bench-bounded", daemon=True)
    worker.start()
    worker.join(timeout)
    return not worker.is_alive()


_LOGGERS = ("posthog", "segment", "amplitude", "opentelemetry", "urllib3", "backoff", "blindai_telemetry")


def silence_logs() -> None:
    """Keep the peers' retry and error logs off the benchmark's output (they would only slow every SDK down)."""
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


class LoggedDrops(logging.Handler):
    """Counts the "queue is full" warnings a peer logs when it drops an event: their only trace of a drop.

    posthog and Segment log one per dropped event; OpenTelemetry logs once, whatever the number.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "queue is full" in record.getMessage().lower():
            self.count += 1


def count_logged_drops() -> LoggedDrops:
    """Silence the SDKs' logs except for their drop warnings, which the returned handler counts (unprinted)."""
    handler = LoggedDrops()
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        logger.addHandler(handler)
    return handler


class _FloorQueue:
    """The floor: what `track()` cannot avoid doing — build the event, stamp the time, append to a bounded deque."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._queue: deque[dict[str, Any]] = deque(maxlen=maxlen)

    def track(self, event: str, **properties: Any) -> None:
        self._queue.append({"event": event, "time": time.time(), "properties": properties})


def _floor(endpoint: str) -> Subject:
    floor = _FloorQueue()
    return Subject(FLOOR, lambda: floor.track(EVENT, model_name="resnet50", duration_ms=12.5, input_bytes=1024,
                                              ok=True),
                   flush=lambda timeout: None, shutdown=lambda timeout: None)


def _ours(endpoint: str) -> Subject:
    from blindai_telemetry import Telemetry

    telemetry = Telemetry(app="blindai-server", app_version="0.6.3", endpoint=endpoint, mode="simulation")
    track = telemetry.track

    def counted_drops() -> int | None:
        # Every reason counts (queue_full, unknown_property, …): a drop is a drop, whatever its cause.
        return sum(int(n) for n in telemetry.stats()["dropped"].values())

    return Subject(OURS, lambda: track(EVENT, model_name="resnet50", duration_ms=12.5, input_bytes=1024, ok=True),
                   flush=lambda timeout: telemetry.flush(timeout=timeout),
                   shutdown=lambda timeout: telemetry.shutdown(timeout=timeout), counted_drops=counted_drops)


def _posthog(endpoint: str) -> Subject:
    from posthog import Posthog

    client = Posthog("phc_benchmark", host=endpoint, disable_geoip=True, enable_exception_autocapture=False)
    capture = client.capture
    return Subject(sink.POSTHOG, lambda: capture(EVENT, distinct_id=DISTINCT_ID, properties=dict(PROPERTIES)),
                   flush=lambda timeout: client.flush(), shutdown=lambda timeout: client.shutdown())


def _amplitude(endpoint: str) -> Subject:
    from amplitude import Amplitude, BaseEvent, Config

    client = Amplitude("benchmark-api-key", Config(server_url=f"{endpoint}/2/httpapi"))
    track = client.track

    def flush(timeout: float) -> None:
        # Amplitude's flush() only submits the sends; waiting on its futures is what "flushed" means.
        for future in client.flush():
            if future is not None:
                future.result(timeout)

    return Subject(sink.AMPLITUDE,
                   lambda: track(BaseEvent(EVENT, user_id=DISTINCT_ID, event_properties=dict(PROPERTIES))),
                   flush=flush, shutdown=lambda timeout: client.shutdown())


def _segment(endpoint: str) -> Subject:
    from segment.analytics import Client

    client = Client(write_key="benchmark-write-key", host=endpoint)
    track = client.track
    return Subject(sink.SEGMENT, lambda: track(DISTINCT_ID, EVENT, dict(PROPERTIES)),
                   flush=lambda timeout: client.flush(), shutdown=lambda timeout: client.shutdown())


def _otel(endpoint: str) -> Subject:
    """A span per event, batched by the SDK's BatchSpanProcessor and exported by OTLP/HTTP (protobuf)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = _otlp_exporter(f"{endpoint}/v1/traces")
    provider = TracerProvider(resource=Resource.create({"service.name": "blindai-server"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    # Not the global provider: it can be set once per process, and each subject owns its own.
    start_span = provider.get_tracer("benchmark").start_span
    return Subject(sink.OTEL, lambda: start_span(EVENT, attributes=dict(PROPERTIES)).end(),
                   flush=lambda timeout: provider.force_flush(int(timeout * 1000)),
                   shutdown=lambda timeout: provider.shutdown())


def _otlp_exporter(url: str) -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:  # fall back to a plain JSON poster so the peer can still be measured
        return _JsonSpanExporter(url)
    return OTLPSpanExporter(endpoint=url)


class _JsonSpanExporter:
    """Used only when the OTLP/HTTP exporter is not installed: POST each batch's span names as JSON."""

    def __init__(self, url: str) -> None:
        self._url = url

    def export(self, spans: Any) -> Any:
        import json
        import urllib.request

        from opentelemetry.sdk.trace.export import SpanExportResult

        body = json.dumps({"spans": [span.name for span in spans]}).encode()
        request = urllib.request.Request(self._url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10):
                return SpanExportResult.SUCCESS
        except OSError:
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Nothing to release: each export opens its own connection."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


_FACTORIES: dict[str, Callable[[str], Subject]] = {
    OURS: _ours, FLOOR: _floor, sink.POSTHOG: _posthog, sink.AMPLITUDE: _amplitude, sink.SEGMENT: _segment,
    sink.OTEL: _otel,
}


def make(name: str, endpoint: str) -> Subject:
    """Set up SDK `name` against `endpoint` (a base URL on 127.0.0.1)."""
    return _FACTORIES[name](endpoint)


def available(name: str) -> str | None:
    """None when SDK `name` can be set up here, else why not (e.g. ours is not written yet)."""
    modules = {OURS: "blindai_telemetry", sink.POSTHOG: "posthog", sink.AMPLITUDE: "amplitude",
               sink.SEGMENT: "segment.analytics", sink.OTEL: "opentelemetry.sdk.trace"}
    if name == FLOOR:
        return None
    try:
        module = __import__(modules[name], fromlist=["_"])
    except ImportError as exc:
        return f"not installed ({exc})"
    if name == OURS and not hasattr(module, "Telemetry"):
        return "blindai_telemetry.Telemetry not available yet"
    return None
