"""A real HTTP receiver on 127.0.0.1 for the CLI tests: records each `/v1/batch` body exactly as it arrived."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Sink:
    """What the receiver got: the raw request bodies (gunzipped when sent gzip-encoded), in order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    def payloads(self) -> list[object]:
        with self.lock:
            return [json.loads(body) for body in self.bodies]


@contextmanager
def running_sink() -> Iterator[Sink]:
    sink = Sink("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with sink.lock:
                sink.bodies.append(body)
            events = json.loads(body).get("events", [])
            answer = json.dumps({"accepted": len(events), "duplicates": 0, "dropped_fields": 0}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
