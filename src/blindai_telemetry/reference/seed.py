"""Synthetic history for the demo: a few weeks of a plausible fleet's events, as rows of the `events` table.

Every row has `source = 'seed'`, so the dashboard can say that what it shows includes seeded data rather than
observed data. The history covers whole UTC days and ends where today begins: today holds only what the demo's
live fleet is observed doing. The fleet is invented from fixed distributions (modes, versions, platforms, how
far each server's users get, request durations and sizes) with a seeded random generator: the same `seed` and
`days` give the same installs and event ids whatever the clock says, so seeding the same DuckDB file twice,
even on another day, stores nothing new (the store deduplicates by event id).
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from blindai_telemetry.catalogue import ERROR_KINDS

_DAY_MS = 86_400_000

#: (value, weight) tables: what a small BlindAI fleet plausibly looks like.
_MODES = (("hardware", 45), ("simulation", 40), ("dcsv3", 15))
_SERVER_OS = (("Linux", "5.15.0", "x86_64", 55), ("Linux", "6.1.0", "x86_64", 30), ("Linux", "6.5.0", "x86_64", 15))
_CLIENT_OS = (("Linux", "6.1.0", "x86_64", 45), ("Darwin", "23.4.0", "arm64", 30), ("Darwin", "22.6.0", "x86_64", 5),
              ("Windows", "10", "AMD64", 20))
_PYTHONS = (("3.10.12", 35), ("3.11.7", 45), ("3.12.3", 20))
_CPUS = ((4, 20), (8, 35), (16, 30), (32, 10), (64, 5))
_MEMORY_GB = ((8.0, 15), (16.0, 35), (32.0, 30), (64.0, 15), (128.0, 5))
#: Releases in order: a newer one is adopted by more of the installs that start later in the period.
_VERSIONS = ("0.6.0", "0.6.1", "0.6.2", "0.6.3")
_PUBLIC_MODELS = ("resnet50", "bert-base-uncased", "distilbert", "gpt2", "mobilenetv2", "whisper", "covidnet",
                  "yolov5", "efficientnet")
#: Errors are rare, and mostly the caller's: bad inputs first.
_ERRORS = (("invalid_input", 55), ("model_not_found", 20), ("invalid_model", 10), ("too_large", 10),
           ("internal", 5))
#: How far a server's users get, the funnel's steps: most servers get a model uploaded (the rest are started,
#: looked at and dropped), and of those most run it (the rest stop at the upload: a model that did not fit, a
#: trial that ended there).
_UPLOADS = 0.85
_RUNS_AFTER_UPLOAD = 0.75
#: Days a server that stops short is kept before it is never seen again (a try-out), as (min, max).
_TRYOUT_DAYS = (1, 7)
#: Share of clients that leave after a while, and how long they stay, as (min, max) days: weekly retention
#: declines instead of holding at 100 %.
_CLIENTS_LEAVING = 0.3
_CLIENT_STAY_DAYS = (3, 21)
#: Mean inference time by mode: the enclave's memory encryption makes hardware mode slower.
_RUN_MS = {"hardware": 38.0, "dcsv3": 30.0, "simulation": 22.0}

assert {kind for kind, _ in _ERRORS} == set(ERROR_KINDS)


def _pick(rng: random.Random, table: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    row = rng.choices(table, weights=[r[-1] for r in table])[0]
    return row[:-1]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class _Install:
    install_id: str
    app: str
    app_version: str
    os_name: str
    os_release: str
    arch: str
    python_version: str
    first_day: int
    #: Chance of being active on a given day from `first_day` to `last_day`.
    activity: float
    last_day: int
    mode: str | None = None
    cpu_count: int | None = None
    memory_gb: float | None = None
    #: The funnel's steps this server's users reach: uploading a model, then running one.
    uploads: bool = True
    runs: bool = True


def _version(rng: random.Random, first_day: int, days: int) -> str:
    # Later installs favour later releases: weight grows with the release index and the install's start day.
    progress = first_day / max(days, 1)
    weights = [math.exp(i * (0.4 + 2.0 * progress)) for i in range(len(_VERSIONS))]
    return rng.choices(_VERSIONS, weights=weights)[0]


def _server(rng: random.Random, days: int) -> _Install:
    first_day = int(days * rng.random() ** 1.5)  # more servers started early: a fleet that is growing slowly
    os_name, os_release, arch = _pick(rng, _SERVER_OS)
    uploads = rng.random() < _UPLOADS
    runs = uploads and rng.random() < _RUNS_AFTER_UPLOAD
    last_day = days if runs else first_day + rng.randint(*_TRYOUT_DAYS) - 1
    return _Install(_uuid(rng), "blindai-server", _version(rng, first_day, days), os_name, os_release, arch,
                    _pick(rng, _PYTHONS)[0], first_day, rng.uniform(0.5, 0.95), last_day, _pick(rng, _MODES)[0],
                    _pick(rng, _CPUS)[0], _pick(rng, _MEMORY_GB)[0], uploads, runs)


def _client(rng: random.Random, days: int) -> _Install:
    first_day = rng.randrange(max(days, 1))
    os_name, os_release, arch = _pick(rng, _CLIENT_OS)
    last_day = first_day + rng.randint(*_CLIENT_STAY_DAYS) - 1 if rng.random() < _CLIENTS_LEAVING else days
    return _Install(_uuid(rng), "blindai-client", _version(rng, first_day, days), os_name, os_release, arch,
                    _pick(rng, _PYTHONS)[0], first_day, rng.uniform(0.2, 0.7), last_day)


def _context(install: _Install, session_id: str, at_ms: int, uptime_s: float | None) -> dict[str, Any]:
    return {
        "event_id": None, "time": at_ms, "received_at": at_ms, "install_id": install.install_id,
        "session_id": session_id, "app": install.app, "app_version": install.app_version,
        "os_name": install.os_name, "os_release": install.os_release, "arch": install.arch,
        "python_version": install.python_version, "mode": install.mode, "uptime_s": uptime_s,
        "cpu_count": install.cpu_count, "memory_gb": install.memory_gb, "is_ci": False, "source": "seed",
        "properties": {},
    }


def _client_columns(client: _Install) -> dict[str, Any]:
    return {"client_install_id": client.install_id, "client_app_version": client.app_version,
            "client_os_name": client.os_name, "client_os_release": client.os_release, "client_arch": client.arch,
            "client_user_agent": "blindai-python"}


def _model_name(rng: random.Random) -> str:
    # Private model names arrive hashed by the SDK's policy ("h:" + 16 hex digits); public ones as they are.
    if rng.random() < 0.6:
        return rng.choice(_PUBLIC_MODELS)
    return f"h:{rng.getrandbits(64):016x}"


def _finish(rng: random.Random, end_ms: int, row: dict[str, Any], event: str, **columns: Any) -> dict[str, Any]:
    row.update(columns, event=event, event_id=_uuid(rng))
    row["time"] = row["received_at"] = min(row["time"], end_ms - 1)  # the last day's late events stay in it
    return row


def _requests(rng: random.Random, server: _Install, client: _Install, session: str, boot_ms: int, at_ms: int,
              end_ms: int) -> Iterator[dict[str, Any]]:
    """One client's uploads to `server`, and its runs of each model when the server's users get that far; the
    last row's time is where the next client starts."""
    for _ in range(rng.randint(1, 3)):
        at_ms += rng.randrange(500, 60_000)
        name = _model_name(rng)
        size = int(rng.lognormvariate(math.log(40e6), 1.2))
        failed = rng.random() < 0.04
        up = _context(server, session, at_ms, (at_ms - boot_ms) / 1000)
        yield _finish(rng, end_ms, up, "model_uploaded", **_client_columns(client), model_name=name,
                      model_size_bytes=size, duration_ms=round(size / 2e5 * rng.uniform(0.7, 1.5), 3),
                      ok=not failed, error_kind=_pick(rng, _ERRORS)[0] if failed else None)
        if failed:
            continue
        for _ in range(int(rng.expovariate(1 / 12)) + 1 if server.runs else 0):
            at_ms += rng.randrange(50, 20_000)
            failed = rng.random() < 0.03
            run = _context(server, session, at_ms, (at_ms - boot_ms) / 1000)
            duration = rng.lognormvariate(math.log(_RUN_MS[server.mode or "simulation"]), 0.45)
            yield _finish(rng, end_ms, run, "model_run", **_client_columns(client), model_name=name,
                          duration_ms=round(duration, 3), input_bytes=rng.choice((602_112, 4_096, 150_528)),
                          ok=not failed, error_kind=_pick(rng, _ERRORS)[0] if failed else None)
        if rng.random() < 0.7:
            at_ms += rng.randrange(100, 5_000)
            yield _finish(rng, end_ms, _context(server, session, at_ms, (at_ms - boot_ms) / 1000), "model_deleted",
                          **_client_columns(client), model_name=name)


def _server_day(rng: random.Random, server: _Install, users: list[_Install], day: int, day_ms: int,
                end_ms: int) -> Iterator[dict[str, Any]]:
    """One process of `server` on `day`: started, used by a few of the clients active that day (none when its
    users never get to uploading), stopped."""
    session = _uuid(rng)
    boot_ms = day_ms + rng.randrange(_DAY_MS // 2)
    yield _finish(rng, end_ms, _context(server, session, boot_ms, 0.0), "server_started")
    at_ms = boot_ms
    if server.uploads:
        active = [c for c in users if c.first_day <= day <= c.last_day and rng.random() < c.activity] \
            or [rng.choice(users)]
        for client in rng.sample(active, k=min(len(active), rng.randint(1, 4))):
            at_ms += rng.randrange(1_000, 600_000)
            yield _finish(rng, end_ms, _context(client, _uuid(rng), at_ms, None), "client_connected")
            for row in _requests(rng, server, client, session, boot_ms, at_ms, end_ms):
                at_ms = row["time"]
                yield row
    # Uptimes spread from minutes (a quick try) to most of a day (a server kept up), around a few hours; the
    # history's last process stops before today, where the seeded history ends.
    stop_ms = at_ms + int(min(rng.lognormvariate(math.log(2 * 3_600_000), 1.3), 20 * 3_600_000))
    stop_ms = min(stop_ms, end_ms - 1)
    yield _finish(rng, end_ms, _context(server, session, stop_ms, (stop_ms - boot_ms) / 1000), "server_stopped")


def seed_rows(days: int = 28, now_ms: int = 0, seed: int = 2026, servers: int = 40,
              clients: int = 90) -> Iterator[dict[str, Any]]:
    """Rows of the `days` whole UTC days before the day of `now_ms`, oldest day first: today is left to what is
    observed. Everything but the rows' times depends on `seed`, `days` and the fleet's size only."""
    rng = random.Random(seed)
    fleet = [_server(rng, days) for _ in range(servers)]
    users = [_client(rng, days) for _ in range(clients)]
    end_ms = now_ms - now_ms % _DAY_MS  # the start of today, UTC: epoch milliseconds count UTC days exactly
    start_ms = end_ms - days * _DAY_MS
    for day in range(days):
        for server in fleet:
            if server.first_day <= day <= server.last_day and rng.random() <= server.activity:
                yield from _server_day(rng, server, users, day, start_ms + day * _DAY_MS, end_ms)
