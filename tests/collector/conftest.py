"""Collector test helpers: a real collector (uvicorn on 127.0.0.1, a free port) in a thread, and batch builders."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from blindai_telemetry.collector.app import create_app
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores import InMemoryStore, Store

NOW_MS = 1_764_323_400_000


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
    sock = socket.socket()
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
        if line.startswith(name + " ") or line.startswith(name + "{") and line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return 0.0
