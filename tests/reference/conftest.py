"""Fixtures for the reference server and client: real uvicorn servers on 127.0.0.1, telemetry into InMemoryTransport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry import InMemoryTransport, Telemetry
from blindai_telemetry.reference.client import client_telemetry
from blindai_telemetry.reference.server import ServerLimits, create_server_app, server_telemetry
from blindai_telemetry.reference.threaded import ThreadedServer


@dataclass
class RunningServer:
    url: str
    telemetry: Telemetry
    transport: InMemoryTransport
    http: ThreadedServer

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The server's delivered events (of one name), after a flush."""
        assert self.telemetry.flush(timeout=5.0)
        return [e for e in self.transport.events if name is None or e["event"] == name]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start a reference server whose telemetry goes to an InMemoryTransport; stopped at the end of the test."""
    started: list[RunningServer] = []

    def start(limits: ServerLimits | None = None, mode: str = "simulation") -> RunningServer:
        transport = InMemoryTransport()
        telemetry = server_telemetry(mode, "0.6.3", config_dir=tmp_path / f"server-{len(started)}",
                                     transport=transport)
        http = ThreadedServer(create_server_app(telemetry, mode=mode, version="0.6.3", limits=limits)).start()
        running = RunningServer(http.url, telemetry, transport, http)
        started.append(running)
        return running

    yield start
    for running in started:
        running.http.stop()
        running.telemetry.shutdown(timeout=1.0)


@pytest.fixture
def client_transport() -> InMemoryTransport:
    return InMemoryTransport()


@pytest.fixture
def client_tel(tmp_path: Path, client_transport: InMemoryTransport) -> Iterator[Telemetry]:
    """A client's own SDK instance (its own install id), reporting to an InMemoryTransport."""
    telemetry = client_telemetry(config_dir=tmp_path / "client", version="0.6.2", transport=client_transport)
    yield telemetry
    telemetry.shutdown(timeout=1.0)
