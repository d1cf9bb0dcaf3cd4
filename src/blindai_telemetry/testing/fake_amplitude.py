"""A local fake of Amplitude's HTTP V2 and User Privacy APIs, with their documented responses, for tests.

It answers as Amplitude documents (RESEARCH.md §2): 200 with `events_ingested`, 400 with
`events_with_invalid_fields`, 413 past 2,000 events or 1 MB, 429 with `throttled_devices` past a per-device rate,
and whatever failures a test scripts (503, resets) — so the collector's forwarder can be tested through an outage
and its recovery without the real service. Shipped in the package so users can test their own set-ups with it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Amplitude's batch limits (HTTP V2 API docs): at most 2,000 events and 1 MB a request.
MAX_EVENTS = 2_000
MAX_BYTES = 1_000_000
#: The User Privacy API takes at most 100 ids a call and one call a second.
MAX_DELETION_IDS = 100


@dataclass
class FakeAmplitudeState:
    """What the fake has received, and how it is told to misbehave."""

    api_key: str = "test-api-key"
    secret_key: str = "test-secret-key"
    #: Events accepted, in order of acceptance.
    events: list[dict[str, Any]] = field(default_factory=list)
    #: User ids passed to the User Privacy API.
    deleted_user_ids: list[str] = field(default_factory=list)
    #: Status codes to answer the next /2/httpapi requests with, before behaving normally again.
    scripted: deque[int] = field(default_factory=deque)
    #: Per-device events a second above which a request is throttled (None: never).
    throttle_per_device: int | None = None
    retry_after: int = 1
    requests: int = 0
    deletion_calls: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def insert_ids(self) -> list[str]:
        with self.lock:
            return [str(e.get("insert_id")) for e in self.events]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.startswith("/2/httpapi"):
            self._httpapi(raw)
        elif self.path.startswith("/api/2/deletions/users"):
            self._deletions(raw)
        else:
            self._answer(404, {"error": "not found"})

    def _httpapi(self, raw: bytes) -> None:
        state = self.server.state
        with state.lock:
            state.requests += 1
            scripted = state.scripted.popleft() if state.scripted else None
        if scripted is not None:
            self._answer(scripted, {"code": scripted, "error": "scripted failure"},
                         {"Retry-After": str(state.retry_after)} if scripted in (429, 503) else None)
            return
        if len(raw) > MAX_BYTES:
            self._answer(413, {"code": 413, "error": "Payload too large"})
            return
        try:
            body = json.loads(raw)
            events = body["events"]
            assert isinstance(events, list)
        except (ValueError, KeyError, AssertionError, TypeError):
            self._answer(400, {"code": 400, "error": "Invalid request body"})
            return
        if body.get("api_key") != state.api_key:
            self._answer(400, {"code": 400, "error": "Invalid API key: " + str(body.get("api_key"))})
            return
        if len(events) > MAX_EVENTS:
            self._answer(413, {"code": 413, "error": "Payload too large"})
            return
        invalid = [i for i, e in enumerate(events)
                   if not isinstance(e, dict) or not e.get("event_type")
                   or len(str(e.get("user_id") or e.get("device_id") or "")) < 5]
        if invalid:
            self._answer(400, {"code": 400, "error": "Request missing required field",
                               "missing_field": "user_id",
                               "events_with_missing_fields": {"user_id": invalid}})
            return
        if state.throttle_per_device is not None:
            counts: dict[str, int] = {}
            for e in events:
                device = str(e.get("device_id") or e.get("user_id"))
                counts[device] = counts.get(device, 0) + 1
            throttled = {d: n for d, n in counts.items() if n > state.throttle_per_device}
            if throttled:
                self._answer(429, {"code": 429, "error": "Too many requests for some devices and users",
                                   "eps_threshold": state.throttle_per_device,
                                   "throttled_devices": throttled,
                                   "throttled_events": list(range(len(events)))},
                             {"Retry-After": str(state.retry_after)})
                return
        with state.lock:
            known = {e.get("insert_id") for e in state.events}
            # Amplitude deduplicates by insert_id (7 days per device): a re-sent event is acknowledged, not re-counted.
            state.events.extend(e for e in events if e.get("insert_id") not in known)
        self._answer(200, {"code": 200, "events_ingested": len(events), "payload_size_bytes": len(raw),
                           "server_upload_time": int(time.time() * 1000)})

    def _deletions(self, raw: bytes) -> None:
        state = self.server.state
        expected = base64.b64encode(f"{state.api_key}:{state.secret_key}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self._answer(401, {"error": "Invalid API key or secret key"})
            return
        now = time.monotonic()
        with state.lock:
            if state.deletion_calls and now - state.deletion_calls[-1] < 1.0:
                self._answer(429, {"error": "Too many requests: one deletion call a second"}, {"Retry-After": "1"})
                return
            state.deletion_calls.append(now)
        try:
            body = json.loads(raw)
            user_ids = body.get("user_ids", [])
            assert isinstance(user_ids, list)
        except (ValueError, AssertionError, AttributeError):
            self._answer(400, {"error": "Invalid request body"})
            return
        if len(user_ids) > MAX_DELETION_IDS:
            self._answer(400, {"error": f"At most {MAX_DELETION_IDS} ids a request"})
            return
        with state.lock:
            state.deleted_user_ids.extend(str(u) for u in user_ids)
        self._answer(200, {"day": time.strftime("%Y-%m-%d"), "status": "staging",
                           "user_ids": [{"user_id": u, "requester": body.get("requester")} for u in user_ids]})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: FakeAmplitudeState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class FakeAmplitude:
    """Runs the fake on 127.0.0.1 in a background thread: `with FakeAmplitude() as fake: fake.url ...`."""

    def __init__(self, state: FakeAmplitudeState | None = None) -> None:
        self.state = state or FakeAmplitudeState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-amplitude", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeAmplitude:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
