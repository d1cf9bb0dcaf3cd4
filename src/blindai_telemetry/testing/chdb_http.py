"""A small ClickHouse HTTP interface in front of chDB, on 127.0.0.1, so the real clickhouse-connect client is tested.

Debian's clickhouse-server (18.16) is too old for clickhouse-connect; chDB is a current ClickHouse in-process.
Shipped (needs the `test` extra's chdb) so the tests, the ingestion benchmark and users' own set-ups share it:
in a process (`ChdbHttpServer(path)`), or as a process of its own that owns the chDB data, the way a ClickHouse
server does for several collectors: `python -m blindai_telemetry.testing.chdb_http PATH [--port P]` prints
`listening on http://127.0.0.1:PORT` and serves until SIGTERM or Ctrl-C.

This front speaks the part of ClickHouse's HTTP interface that clickhouse-connect uses:

Covered: the query in the body or in the `query` URL parameter (the body then being INSERT data); an INSERT
with its `FORMAT` and data in the same body (how clickhouse-connect sends `insert_arrow`); chunked request
bodies; `database`; ClickHouse settings given as URL parameters (applied with SET for the request, then
restored); the output format from a trailing `FORMAT x` or `default_format`; the response headers
clickhouse-connect reads (`X-ClickHouse-Format`, `-Query-Id`, `-Timezone`, `-Summary`, and
`-Exception-Code` with a non-200 status on errors); HTTP/1.1 keep-alive.
Not covered: compression (the client must use `compress=False`; a compressed request gets 400), sessions
(`session_id` is ignored: the store never uses them), `param_*` server-side bind parameters (the store binds
client-side), external data, progress headers, authentication (user and password are accepted as given),
and of course a cluster, replication, `ON CLUSTER` DDL and several servers: one chDB engine is one node.
Queries run one at a time (one chDB handle), where a server runs them side by side: a benchmark through this
front measures a single-threaded server.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb.session

# Parameters the HTTP layer consumes; everything else in the URL is a ClickHouse setting.
_TRANSPORT = frozenset({
    "query", "database", "default_format", "session_id", "session_timeout", "session_check", "query_id",
    "quota_key", "compress", "decompress", "wait_end_of_query", "client_protocol_version", "role", "user",
    "password", "send_progress_in_http_headers", "http_headers_progress_interval_ms", "enable_http_compression",
    "buffer_size",
})
_INSERT = re.compile(rb"^\s*(INSERT\s+INTO\s.*?)\s+FORMAT\s+(\w+)[ \t]*(?:\r?\n|$)", re.IGNORECASE | re.DOTALL)
_TRAILING_FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ERROR_CODE = re.compile(r"Code: (\d+)")


class ChdbHttpServer:
    """Serves chDB at `self.url` (http://127.0.0.1:PORT) from a background thread; one query at a time."""

    def __init__(self, path: str, port: int = 0) -> None:
        self._session: Any = chdb.session.Session(path)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()  # one chDB handle: requests run one after another
        self.requests: list[str] = []  # the SQL of every request, for tests to check what the client sent
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go out in two writes: with Nagle on, the second waits for the client's
            # delayed ACK of the first, 40 ms on Linux, which made every small answer take 40 ms.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                front._handle(self)

            def do_POST(self) -> None:
                front._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read self.requests instead
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="chdb-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._session.close()

    # --- one request ---------------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        if url.path == "/ping":
            self._reply(handler, 200, b"Ok.\n", {})
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        body = _read_body(handler)
        if handler.headers.get("Content-Encoding"):
            self._reply(handler, 400, b"Code: 0. compressed requests are not supported by the chDB front\n",
                        {"X-ClickHouse-Exception-Code": "0"})
            return
        settings = {k: v for k, v in params.items() if k not in _TRANSPORT and not k.startswith("param_")}
        try:
            with self._lock, self._settings(settings):
                if params.get("database"):
                    self._session.query(f"USE `{params['database']}`")
                status, out, headers = self._run(params, body)
        except Exception as exc:  # noqa: BLE001 - any engine error goes back the way ClickHouse reports it
            message = str(exc)
            code = _ERROR_CODE.search(message)
            self._reply(handler, 500, (message + "\n").encode(),
                        {"X-ClickHouse-Exception-Code": code.group(1) if code else "1001"})
            return
        self._reply(handler, status, out, headers)

    def _run(self, params: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        # As ClickHouse does: the statement is the `query` parameter followed by the body, except that an
        # INSERT's data starts right after its `FORMAT x` (in the parameter, or on the body's first line).
        query = params.get("query")
        head = query.encode() if query is not None else body
        insert = _INSERT.match(head)
        data = body if query is not None else body[insert.end():] if insert else b""
        if insert is not None and data:
            self.requests.append(insert.group(0).decode().strip())
            inserter = self._session.send_insert(insert.group(1).decode(), insert.group(2).decode())
            inserter.append(data)
            written = inserter.finish().rows_written
            return 200, b"", {"X-ClickHouse-Summary": json.dumps({"written_rows": str(written)})}
        sql = (query + "\n" + body.decode()) if query is not None and body else head.decode()
        self.requests.append(sql)
        fmt = params.get("default_format", "TabSeparated")
        trailing = _TRAILING_FORMAT.search(sql)
        if trailing:
            sql, fmt = sql[: trailing.start()], trailing.group(1)
        result = self._session.query(sql, fmt)
        out = result.bytes() if result is not None else b""
        return 200, out, {"X-ClickHouse-Format": fmt}

    @contextmanager
    def _settings(self, settings: dict[str, str]) -> Iterator[None]:
        """Apply the request's settings with SET, and put the previous values back afterwards."""
        for name in settings:
            if not _SETTING_NAME.match(name):
                raise ValueError(f"Code: 115. Unknown setting {name}")
        if not settings:
            yield
            return
        names = ", ".join(f"'{n}'" for n in settings)
        before = self._session.query(f"SELECT name, value FROM system.settings WHERE name IN ({names})", "JSONEachRow")
        previous = {r["name"]: r["value"] for r in map(json.loads, before.bytes().decode().splitlines())}
        try:
            for name, value in settings.items():
                self._session.query(f"SET {name} = {_literal(value)}")
            yield
        finally:
            for name, value in previous.items():
                self._session.query(f"SET {name} = {_literal(value)}")

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("X-ClickHouse-Query-Id", str(uuid.uuid4()))
        handler.send_header("X-ClickHouse-Timezone", "UTC")
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()  # the blank line after the last chunk
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def main(argv: list[str] | None = None) -> None:
    """Serve chDB's data at PATH over HTTP until SIGTERM or Ctrl-C (one process owns the data, as a server)."""
    parser = argparse.ArgumentParser(prog="python -m blindai_telemetry.testing.chdb_http", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="chDB data directory (created if missing)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port, printed)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = ChdbHttpServer(args.path, args.port)
    try:
        print(f"listening on {server.url}", flush=True)
        stop.wait()
    finally:
        server.close()  # closes the chDB session, so its data is flushed and its lock released
    sys.exit(0)


if __name__ == "__main__":
    main()
