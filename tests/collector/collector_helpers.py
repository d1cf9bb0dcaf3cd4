"""Collector test helpers (imported as `collector_helpers`): a real collector in a thread or a subprocess, batches."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import strategies as st

from blindai_telemetry import catalogue
from blindai_telemetry.collector.app import create_app
from blindai_telemetry.collector.body import parse_json
from blindai_telemetry.collector.formats import Format
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.collector.validate import Checked, check_rows
from blindai_telemetry.stores import InMemoryStore, Store

NOW_MS = int(time.time() * 1000)  # events are recent: retention keeps them


@dataclass
class Collector:
    url: str
    app: FastAPI
    store: Store

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


@contextlib.contextmanager
def running(store: Store | None = None, settings: CollectorSettings | None = None,
            **app_kwargs: Any) -> Iterator[Collector]:
    """A collector served by uvicorn in a thread until the block ends (then drained and stopped)."""
    store = store if store is not None else InMemoryStore()
    app = create_app(settings or CollectorSettings(retention_days=0), store, **app_kwargs)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it
    # Nagle's algorithm against the client's delayed ACK adds ~40 ms to every keep-alive request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=False,
                                          server_header=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "collector did not start"
        assert thread.is_alive(), "collector thread died"
        time.sleep(0.01)
    try:
        yield Collector(f"http://127.0.0.1:{port}", app, store)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A running collector on an in-memory store."""
    with running() as c:
        yield c


def event(name: str = "model_run", **fields: Any) -> dict[str, Any]:
    """A valid native event; `fields` override or add top-level keys."""
    out: dict[str, Any] = {
        "event_id": str(uuid.uuid4()), "event": name, "time": NOW_MS, "install_id": "6f1d5c1e-inst-0001",
        "session_id": "c2a1-session", "app": "blindai-server", "app_version": "0.6.3", "os_name": "Linux",
        "arch": "x86_64", "mode": "simulation", "is_ci": False,
    }
    if name == "model_run":
        out["properties"] = {"model_name": "resnet50", "duration_ms": 12.5, "input_bytes": 1024, "ok": True}
    out.update(fields)
    return out


def batch(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"schema_version": 1, "sent_at": NOW_MS, "events": list(events), **fields}


def metric(text: str, name: str) -> float:
    """The value of one sample in a Prometheus text page (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] == name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


BIN = str(Path(sys.executable).with_name("blindai-telemetry"))


@dataclass
class Served:
    """A `blindai-telemetry serve` subprocess; its stdout and stderr go to files in `workdir`."""

    process: subprocess.Popen[bytes]
    url: str
    workdir: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_serve(workdir: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    """Start `blindai-telemetry serve --port 0 ARGS` in `workdir` and wait until /healthz answers 200."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = (workdir / "stdout.log").open("ab")
    err = (workdir / "stderr.log").open("ab")
    process = subprocess.Popen([BIN, "serve", "--port", "0", *args], cwd=workdir, stdout=out, stderr=err,
                               env={**os.environ, **(env or {})})
    out.close()
    err.close()
    deadline = time.monotonic() + 30
    url = None
    while True:
        assert time.monotonic() < deadline, (workdir / "stderr.log").read_text()
        assert process.poll() is None, (workdir / "stderr.log").read_text()
        if url is None:
            found = re.search(r"listening on (http://\S+)", (workdir / "stderr.log").read_text())
            url = found.group(1) if found else None
        if url is not None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return Served(process, url, workdir)
        time.sleep(0.05)


any_json_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=210),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def field_value(name: str) -> st.SearchStrategy[Any]:
    """Mostly values the field may hold, at and around its bounds; sometimes anything."""
    f = catalogue.FIELDS.get(name)
    if f is None:
        return any_json_value
    if f.type is str:
        fitting = st.sampled_from([*(f.choices or ()), "resnet50", "0.6.3", str(uuid.UUID(int=5)), "x" * 200])
    elif f.type is bool:
        fitting = st.booleans()
    elif f.type is float:
        fitting = st.one_of(st.floats(min_value=-1.0, allow_nan=False, allow_infinity=False), st.integers(-1, 10))
    else:
        top = 2**31 - 1 if name == "cpu_count" else 2**63 - 1
        fitting = st.one_of(st.integers(-1, 10), st.integers(top - 1, top + 1))
    return st.one_of(fitting, fitting, fitting, fitting, fitting, any_json_value)


def general_path(fmt: Format, data: bytes) -> tuple[Any, Checked]:
    """What the ingestion route's general path makes of an inflated body (no shortcut): its parsed JSON, and its
    checked rows with the decoder's drops counted in (`ingest._check`)."""
    payload = parse_json(data)
    decoded = fmt.decode(payload, None)
    checked = check_rows(decoded.rows, source=fmt.source, received_at_ms=7, strict=fmt.strict)
    checked.dropped_fields += decoded.dropped_fields
    checked.dropped_events += decoded.dropped_events
    return payload, checked
