"""A receiver that closes the connection after each answer (HTTP/1.0, `Connection: close`) gets each batch once.

http.client closes such a connection before the body is read; reading the answer must still work, or a batch
that was delivered is taken for a failure and sent again.
"""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from blindai_telemetry import Telemetry


@pytest.fixture
def http10_receiver() -> Iterator[tuple[str, list[list[str]]]]:
    batches: list[list[str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):  # protocol_version stays "HTTP/1.0": closes after answering
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            batches.append([e["event"] for e in json.loads(body)["events"]])
            answer = b'{"accepted": 1, "duplicates": 0, "dropped_fields": 0}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", batches
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_each_batch_is_sent_once_to_a_receiver_that_closes_every_connection(
    http10_receiver: tuple[str, list[list[str]]],
) -> None:
    url, batches = http10_receiver
    telemetry = Telemetry("blindai-server", "0.6.3", endpoint=url, mode="simulation", flush_interval=60)
    try:
        for _ in range(3):
            telemetry.track("server_started")
            assert telemetry.flush(timeout=10)
        assert telemetry.stats()["consecutive_failures"] == 0
    finally:
        telemetry.shutdown(timeout=5)
    assert batches == [["server_started"]] * 3
