"""Helpers of the collector fault suite: the collector test helpers (through `collector_support`) and a loader
that records what every batch it sent was answered."""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reliability.collector_support import NOW_MS, Served, batch, event, start_serve

__all__ = ["Answers", "Served", "SlowClients", "batch", "encoded_batch", "event", "new_batch", "rss_mb", "start_serve",
           "start_throttled", "stored_ids", "wait_until"]


def start_throttled(workdir: Path, rate: float, *args: str) -> Served:
    """`blindai-telemetry serve --port 0 ARGS` whose DuckDB store commits at most `rate` events/s
    (throttled_serve.py); waits until /healthz answers 200."""
    import contextlib
    import re
    import subprocess

    workdir.mkdir(parents=True, exist_ok=True)
    err_path = workdir / "stderr.log"
    with err_path.open("ab") as err:
        process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("throttled_serve.py")), str(rate),
                                    "--port", "0", *args], cwd=workdir, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline and process.poll() is None, err_path.read_text()
        found = re.search(r"listening on (http://\S+)", err_path.read_text())
        if found:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(found.group(1) + "/healthz", timeout=2).status_code == 200:
                    return Served(process, found.group(1), workdir)
        time.sleep(0.05)


def encoded_batch(size: int, install: str) -> tuple[list[str], bytes]:
    """`size` fresh native events from `install`, already JSON-encoded: a loader can offer them faster."""
    ids = [str(uuid.uuid4()) for _ in range(size)]
    template = json.dumps(event(install_id=install, event_id="@ID@"))
    events = ",".join(template.replace("@ID@", i) for i in ids)
    body = f'{{"schema_version": 1, "sent_at": {NOW_MS}, "events": [{events}]}}'
    return ids, body.encode()


def new_batch(size: int, install: str) -> list[dict[str, Any]]:
    """`size` valid native events with fresh ids, from `install`."""
    return [event(event_id=str(uuid.uuid4()), install_id=install) for _ in range(size)]


@dataclass
class Answers:
    """What the collector answered, batch by batch: the acknowledged event ids, the refused batches (kept whole,
    to be checked and re-sent), the statuses seen, and any refusal that broke the contract."""

    acked: list[str] = field(default_factory=list)
    refused: list[list[dict[str, Any]]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    #: Answers other than 200, or 429/503 with a Retry-After: must stay empty.
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, http: httpx.Client, events: list[dict[str, Any]]) -> int:
        """Send one batch and record the answer; returns its status."""
        r = http.post("/v1/batch", json=batch(*events))
        with self.lock:
            self.statuses[r.status_code] += 1
            if r.status_code == 200:
                self.acked.extend(str(e["event_id"]) for e in events)
            else:
                self.refused.append(events)
                if r.status_code not in (429, 503) or not r.headers.get("retry-after", "").isdigit():
                    self.violations.append(f"{r.status_code} {r.headers.get('retry-after')!r} {r.text[:200]}")
        return r.status_code


def stored_ids(db: Path) -> list[str]:
    """Every event_id in the DuckDB file (the collector must be stopped: the file has one owner)."""
    from blindai_telemetry.stores import DuckDBStore

    store = DuckDBStore(db)
    try:
        return [str(r["event_id"]) for r in store.fetch("SELECT event_id FROM events")]
    finally:
        store.close()


def rss_mb(pid: int) -> float:
    """The process's resident memory (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll `predicate` (a condition on another process, which cannot signal us) until true or the timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class SlowClients:
    """Connections that never finish a request: `idle` send nothing, `headers` trickle their headers a byte at a
    time, `body` send whole headers then trickle the body, `reused` finish one request then trickle the next's
    headers. `run()` keeps trickling until the server has closed every one (or the timeout), recording when each
    closed and what it answered."""

    KINDS = ("idle", "headers", "body", "reused")

    def __init__(self, url: str, per_kind: int) -> None:
        import selectors
        import socket
        import urllib.parse

        host_port = urllib.parse.urlsplit(url)
        self.started = time.monotonic()
        self.selector = selectors.DefaultSelector()
        self.kind: dict[socket.socket, str] = {}
        self.closed_after: dict[str, list[float]] = {k: [] for k in self.KINDS}
        self.answers: dict[socket.socket, bytes] = {}
        for kind in self.KINDS:
            for _ in range(per_kind):
                sock = socket.create_connection((host_port.hostname, host_port.port), timeout=10)
                if kind == "headers":
                    sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: collector\r\n")
                elif kind == "body":
                    sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 100000\r\n\r\n{")
                elif kind == "reused":
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: collector\r\n\r\n")
                sock.setblocking(False)
                self.kind[sock] = kind
                self.answers[sock] = b""
                self.selector.register(sock, selectors.EVENT_READ)

    @property
    def open_count(self) -> int:
        return len(self.kind)

    def _close(self, sock: Any) -> None:
        self.closed_after[self.kind.pop(sock)].append(time.monotonic() - self.started)
        self.selector.unregister(sock)
        sock.close()

    def tick(self) -> None:
        """Read whatever the server sent (noting closes), then send one more byte on each trickling connection."""
        for key, _ in self.selector.select(timeout=0):
            sock = key.fileobj
            try:
                data = sock.recv(65536)  # type: ignore[union-attr]
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                self._close(sock)
            else:
                self.answers[sock] += data  # type: ignore[index]
        for sock, kind in list(self.kind.items()):
            if kind == "idle" or (kind == "reused" and b"\r\n\r\n" not in self.answers[sock]):
                continue
            try:
                sock.send(b"x" if kind != "body" else b" ")
            except OSError:  # reset or broken pipe: the server closed it
                self._close(sock)

    def run(self, timeout: float, interval: float = 0.25) -> None:
        deadline = time.monotonic() + timeout
        while self.kind and time.monotonic() < deadline:
            self.tick()
            time.sleep(interval)  # the trickle's pace, not a synchronisation

    def close(self) -> None:
        for sock in list(self.kind):
            self._close(sock)
        self.selector.close()
