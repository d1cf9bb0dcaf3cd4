"""A simulated BlindAI fleet for the demo: reference servers in several modes and versions, and clients that
drive realistic traffic at them (uploads, runs, deletes, and the occasional failure).

Each server and each client has its own config directory, hence its own install id, and reports to the
endpoint it is given. "hardware" and "dcsv3" are labels only: every server runs onnxruntime on the CPU.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from blindai_telemetry import Telemetry, _config
from blindai_telemetry.reference.client import Client, ServerError, client_telemetry, connect
from blindai_telemetry.reference.models import BUILDERS, sample_input
from blindai_telemetry.reference.server import create_server_app, server_telemetry
from blindai_telemetry.reference.threaded import ThreadedServer

T = TypeVar("T")

#: (mode, version) of the servers, in start order: `--servers N` takes the first N (cycling past the end).
SERVER_PROFILES = (("hardware", "0.6.3"), ("simulation", "0.6.2"), ("dcsv3", "0.6.3"), ("simulation", "0.6.3"),
                   ("hardware", "0.6.2"), ("hardware", "0.6.1"))
CLIENT_VERSIONS = ("0.6.3", "0.6.2", "0.6.3", "0.6.1")
#: Names users give models: public architectures pass as they are; the others reach the collector hashed.
MODEL_NAMES = ("resnet50", "bert-base-uncased", "mobilenetv2", "gpt2", "acme-fraud-detector", "clinic-xray-v3",
               "churn-model-2026")


@dataclass
class FleetServer:
    mode: str
    version: str
    telemetry: Telemetry
    server: ThreadedServer

    @property
    def url(self) -> str:
        return self.server.url


@dataclass
class Fleet:
    """Running servers and client traffic; `stop()` ends the traffic, stops the servers and delivers what
    their telemetry still holds."""

    servers: list[FleetServer] = field(default_factory=list)
    clients: list[Telemetry] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    #: Requests made, by outcome ("ok" or the server's error word, or "unreachable").
    outcomes: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def totals(self) -> dict[str, int]:
        """A consistent copy of `outcomes` (client threads keep counting)."""
        with self._lock:
            return dict(self.outcomes)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout)
        for fleet_server in self.servers:
            fleet_server.server.stop(timeout)  # runs the lifespan end: `server_stopped` is tracked
        # Shut every install's SDK down at once: each may spend its whole timeout when the collector is gone.
        closers = [threading.Thread(target=t.shutdown, kwargs={"timeout": 2.0}, daemon=True)
                   for t in [s.telemetry for s in self.servers] + self.clients]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(timeout)


def _simulated_install(directory: Path) -> Path:
    """A config directory for one simulated install. The first-run notice is for people's own installs; the
    demo's installs report only to the demo's collector and the demo says so once, instead of once each."""
    _config.save_user_config(_config.UserConfig(notice_shown_at=int(time.time() * 1000)), directory)
    return directory


def start_servers(fleet: Fleet, count: int, root: Path, endpoint: str) -> None:
    """Start `count` servers on free ports of 127.0.0.1, each with its own install id under `root`."""
    for index in range(count):
        mode, version = SERVER_PROFILES[index % len(SERVER_PROFILES)]
        telemetry = server_telemetry(mode, version, endpoint, _simulated_install(root / f"server-{index}"))
        server = ThreadedServer(create_server_app(telemetry, mode=mode, version=version))
        fleet.servers.append(FleetServer(mode, version, telemetry, server))
        server.start()


def _attempt(fleet: Fleet, call: Callable[[], T]) -> T | None:
    """Make one request; a refusal is part of realistic traffic, counted by its error word."""
    try:
        result = call()
    except ServerError as refused:
        fleet.count(refused.kind)
        return None
    fleet.count("ok")
    return result


def _session(fleet: Fleet, client: Client, rng: random.Random, models: dict[str, bytes]) -> None:
    """One user's visit: upload a model, run it a few times, delete it; now and then a mistake."""
    wait = fleet.stopping.wait
    if rng.random() < 0.05:
        _attempt(fleet, lambda: client.upload_model(b"this is not an ONNX model", name="broken-upload"))
    kind = rng.choice(sorted(models))
    model_id = _attempt(fleet, lambda: client.upload_model(models[kind], name=rng.choice(MODEL_NAMES)))
    if model_id is None:
        return
    for _ in range(rng.randint(3, 12)):
        if wait(rng.uniform(0.05, 0.4)):
            break
        if rng.random() < 0.05:  # a wrong shape: the caller's mistake, reported as invalid_input
            _attempt(fleet, lambda: client.run_model(model_id, [[1.0, 2.0]]))
        else:
            batch = sample_input(kind, rng.randint(1, 8), rng.randrange(1000))
            _attempt(fleet, lambda: client.run_model(model_id, batch))  # noqa: B023 - called at once
    if rng.random() < 0.05:
        _attempt(fleet, lambda: client.run_model("no-such-model", [[0.0]]))
    _attempt(fleet, lambda: client.delete_model(model_id))


def _drive(fleet: Fleet, telemetry: Telemetry, seed: int) -> None:
    """One client's traffic until the fleet stops: connect to a server, a session or two, disconnect."""
    rng = random.Random(seed)
    models = {kind: build() for kind, build in BUILDERS.items()}
    while not fleet.stopping.is_set():
        target = rng.choice(fleet.servers)
        try:
            with connect(target.url, telemetry=telemetry, timeout=10.0) as client:
                for _ in range(rng.randint(1, 2)):
                    _session(fleet, client, rng, models)
        except httpx.HTTPError:
            fleet.count("unreachable")
        fleet.stopping.wait(rng.uniform(0.2, 1.5))


def start_traffic(fleet: Fleet, clients: int, root: Path, endpoint: str, seed: int = 7) -> None:
    """Start `clients` client threads, each with its own install id and client version."""
    for index in range(clients):
        version = CLIENT_VERSIONS[index % len(CLIENT_VERSIONS)]
        telemetry = client_telemetry(endpoint, _simulated_install(root / f"client-{index}"), version=version)
        fleet.clients.append(telemetry)
        thread = threading.Thread(target=_drive, args=(fleet, telemetry, seed + index),
                                  name=f"demo-client-{index}", daemon=True)
        fleet.threads.append(thread)
        thread.start()
