"""Real HTTP endpoints on 127.0.0.1 for the SDK's tests: a recording sink, a tiny proxy, a black hole."""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes  # as received on the wire
    body: Any  # decoded JSON (after gunzip when Content-Encoding is gzip)
    peer_port: int  # the client's source port: one value per TCP connection
    at: float  # time.monotonic() when it arrived


@dataclass
class Sink:
    """Records every request; answers from `responses` (status, headers) in order, then 200."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    responses: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def events(self, only_ok: bool = True) -> list[dict[str, Any]]:
        with self.cond:
            return [e for r in self.requests if (r.headers.get("x-answered") == "200" or not only_ok)
                    for e in r.body.get("events", [])]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(remaining)
        return True


def _handler(sink: Sink) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real collector behind uvicorn

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            with sink.cond:
                status, headers = sink.responses.pop(0) if sink.responses else (200, {})
                request_headers = {k.lower(): v for k, v in self.headers.items()}
                request_headers["x-answered"] = str(status)
                sink.requests.append(Request("POST", self.path, request_headers, raw, json.loads(data),
                                             self.client_address[1], time.monotonic()))
                sink.cond.notify_all()
            body = json.dumps({"accepted": 0} if status == 200 else {"error": "scripted"}).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def http_sink(tls: ssl.SSLContext | None = None) -> Iterator[Sink]:
    """A recording sink; over HTTPS when given a server TLS context."""
    sink = Sink()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    sink.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def black_hole() -> Iterator[str]:
    """A port that accepts TCP connections (the kernel's backlog does) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def _pipe_both_ways(a: socket.socket, b: socket.socket) -> None:
    """Relay bytes between two sockets until either side closes (the CONNECT tunnel: the proxy sees only
    encrypted bytes)."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1.0):
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data:
                    b.close()
                    return
                key.data.sendall(data)
    b.close()


@dataclass
class Proxy:
    url: str = ""
    request_lines: list[str] = field(default_factory=list)


@contextmanager
def forward_proxy() -> Iterator[Proxy]:
    """A minimal HTTP proxy: forwards absolute-URI requests (plain HTTP), tunnels CONNECT, records both."""
    proxy = Proxy()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_CONNECT(self) -> None:
            proxy.request_lines.append(self.requestline)
            host, _, port = self.path.rpartition(":")
            try:
                upstream = socket.create_connection((host, int(port)), timeout=5)
            except OSError:
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            _pipe_both_ways(self.connection, upstream)
            self.close_connection = True

        def do_POST(self) -> None:
            proxy.request_lines.append(self.requestline)
            import urllib.parse

            url = urllib.parse.urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            upstream = socket.create_connection((url.hostname, url.port), timeout=5)
            headers = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items() if k.lower() != "connection")
            upstream.sendall(f"POST {url.path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n".encode() + body)
            response = b""
            while chunk := upstream.recv(65536):
                response += chunk
            upstream.close()
            head, _, rest = response.partition(b"\r\n\r\n")
            status = int(head.split()[1])
            self.send_response(status)
            self.send_header("Content-Length", str(len(rest)))
            self.end_headers()
            self.wfile.write(rest)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
