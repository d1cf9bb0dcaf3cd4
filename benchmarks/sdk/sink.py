"""The one local endpoint every SDK talks to: a threaded HTTP sink that counts events per SDK, and broken endpoints.

Each SDK's batches are recognised by path and shape (posthog `/batch/`, Amplitude `/2/httpapi`, Segment and ours
both `/v1/batch` — told apart by `batch` vs `events` — and OTLP `/v1/traces` protobuf), gzip aware. Ours also
reports in each batch what it dropped (`dropped`), which the sink adds up so the burst check can prove that no
event went missing silently.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OURS, POSTHOG, AMPLITUDE, SEGMENT, OTEL, UNKNOWN = "ours", "posthog", "amplitude", "segment", "otel", "unknown"


def _inflate(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip" or body[:2] == b"\x1f\x8b":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _count_otlp(body: bytes) -> int:
    """Spans in an OTLP/HTTP protobuf trace export (0 when it does not parse)."""
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    except ImportError:  # the OTLP exporter is optional; the fallback exporter posts JSON instead
        return 0
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def classify(path: str, body: bytes, content_type: str) -> tuple[str, int, int]:
    """(sdk, events in the request, drops the request reports) for one POST the sink received."""
    path = path.split("?", 1)[0]
    if path.endswith("/v1/traces"):
        if "json" in content_type:
            return OTEL, len(json.loads(body).get("spans", [])), 0
        return OTEL, _count_otlp(body), 0
    payload: Any = json.loads(body)
    if path.endswith("/2/httpapi"):
        return AMPLITUDE, len(payload.get("events", [])), 0
    if path.rstrip("/").endswith("/batch") and isinstance(payload, dict):
        if "batch" in payload:
            return (SEGMENT if path.endswith("/v1/batch") else POSTHOG), len(payload["batch"]), 0
        if "events" in payload:
            dropped = payload.get("dropped") or {}
            return OURS, len(payload["events"]), sum(int(v) for v in dropped.values())
    return UNKNOWN, 0, 0


class _Handler(BaseHTTPRequestHandler):
    server: _SinkServer
    protocol_version = "HTTP/1.1"  # keep-alive, as every SDK's HTTP client expects

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        sink = self.server.sink
        if sink.delay:
            # A slow collector: sleep, but stop early when the benchmark closes the sink.
            sink.closing.wait(sink.delay)
        try:
            body = _inflate(raw, (self.headers.get("Content-Encoding") or "").lower())
            sdk, events, dropped = classify(self.path, body, self.headers.get("Content-Type") or "")
        except Exception:  # a body we cannot read is counted, never fatal to the sink
            sdk, events, dropped = UNKNOWN, 0, 0
        sink.record(sdk, events, dropped)
        if sdk == OTEL:
            reply, ctype = b"", "application/x-protobuf"
        elif sdk == AMPLITUDE:
            reply = json.dumps({"code": 200, "events_ingested": events, "payload_size_bytes": len(raw),
                                "server_upload_time": int(time.time() * 1000)}).encode()
            ctype = "application/json"
        elif sdk == OURS:
            reply, ctype = json.dumps({"accepted": events, "duplicates": 0, "dropped_fields": 0}).encode(), \
                "application/json"
        else:
            reply, ctype = b'{"status": 1}', "application/json"
        with contextlib.suppress(OSError):
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line: the sink never prints who connected."""


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    sink: Sink

    def handle_error(self, request: Any, client_address: Any) -> None:
        """An SDK hanging up mid-request (a killed child, a client timeout) is normal here: no traceback."""


class Sink:
    """A local collector stand-in on 127.0.0.1 answering 200 to any POST, counting events per SDK.

    `delay` (seconds) makes each request wait before its answer: the "slow collector" of the exit test.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.closing = threading.Event()
        self.events: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.reported_drops: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = _SinkServer(("127.0.0.1", 0), _Handler)
        self._server.sink = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="bench-sink", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, sdk: str, events: int, dropped: int) -> None:
        with self._lock:
            self.events[sdk] += events
            self.requests[sdk] += 1
            self.reported_drops[sdk] += dropped

    def received(self, sdk: str) -> int:
        with self._lock:
            return self.events[sdk]

    def wait_for(self, sdk: str, count: int, timeout: float) -> int:
        """Poll until `count` events of `sdk` arrived or `timeout` passed; the number that arrived."""
        deadline = time.monotonic() + timeout
        while self.received(sdk) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received(sdk)

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.requests.clear()
            self.reported_drops.clear()

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()


class BlackHole:
    """An endpoint that accepts connections and never answers: the hardest case for an exit deadline."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="bench-blackhole", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._held.append(conn)  # held open, never read from or answered

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._listener.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused): the collector is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
