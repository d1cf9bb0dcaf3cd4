"""Seed a DuckDB file with N synthetic events over 90 days from 50,000 installs, fast: numpy columns → Arrow.

Generating columns with numpy and inserting one Arrow table per million rows costs seconds, where going
through Python dicts would cost minutes. The file is cached under benchmarks/results/ between runs.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from blindai_telemetry.stores import open_store
from blindai_telemetry.stores.base import EVENT_COLUMNS

SEED_VERSION = 1  # bump when the generator changes, so a cached file is rebuilt
DAYS = 90
CHUNK = 1_000_000

#: event -> share of all events (clients send client_connected; everything else comes from servers).
EVENT_MIX = {"model_run": 0.72, "model_uploaded": 0.10, "client_connected": 0.08, "server_started": 0.04,
             "server_stopped": 0.04, "model_deleted": 0.02}
MODES = np.array(["hardware", "simulation", "dcsv3"], dtype=object)
SERVER_VERSIONS = np.array(["0.5.6", "0.6.0", "0.6.2", "0.6.3"], dtype=object)
CLIENT_VERSIONS = np.array(["0.5.10", "0.6.0", "0.6.2", "0.6.3"], dtype=object)

_ARROW = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "DOUBLE": pa.float64(), "BIGINT": pa.int64(),
          "INTEGER": pa.int32(), "BOOLEAN": pa.bool_(), "JSON": pa.string()}


class Fleet:
    """Per-install facts, drawn once: servers first, then clients."""

    def __init__(self, rng: np.random.Generator, installs: int) -> None:
        self.servers = int(installs * 0.6)
        self.clients = installs - self.servers
        n = installs
        self.ids = np.array([str(uuid.UUID(int=int(x), version=4)) for x in rng.integers(0, 2**63, n)], dtype=object)
        server = np.arange(n) < self.servers
        self.app = np.where(server, "blindai-server", "blindai-client").astype(object)
        self.version = np.where(server, SERVER_VERSIONS[rng.choice(4, n, p=[.05, .15, .3, .5])],
                                CLIENT_VERSIONS[rng.choice(4, n, p=[.05, .15, .3, .5])])
        self.mode = np.where(server, MODES[rng.choice(3, n, p=[.2, .7, .1])], None)
        self.os = np.array(["Linux", "Darwin", "Windows"], dtype=object)[rng.choice(3, n, p=[.85, .1, .05])]
        self.arch = np.array(["x86_64", "aarch64"], dtype=object)[rng.choice(2, n, p=[.8, .2])]
        self.cpu = rng.choice([2, 4, 8, 16, 32, 64], n).astype(np.int32)
        self.mem = rng.choice([4.0, 8.0, 16.0, 32.0, 64.0, 128.0], n)
        self.ci = rng.random(n) < 0.05
        # Activity is skewed: a few installs send most events, as in real fleets.
        weight = rng.pareto(1.5, n) + 0.1
        self.server_p = weight[: self.servers] / weight[: self.servers].sum()
        self.client_p = weight[self.servers:] / weight[self.servers:].sum()


def _chunk(rng: np.random.Generator, fleet: Fleet, start: int, times: np.ndarray) -> pa.Table:
    n = len(times)
    names = np.array(list(EVENT_MIX), dtype=object)
    event = names[rng.choice(len(names), n, p=list(EVENT_MIX.values()))]
    is_client_event = event == "client_connected"
    who = np.where(is_client_event, fleet.servers + rng.choice(fleet.clients, n, p=fleet.client_p),
                   rng.choice(fleet.servers, n, p=fleet.server_p))
    request = np.isin(event, ["model_run", "model_uploaded", "model_deleted"])
    upload = event == "model_uploaded"
    run = event == "model_run"
    client = fleet.servers + rng.choice(fleet.clients, n, p=fleet.client_p)
    server_side = ~is_client_event
    ok = rng.random(n) > 0.03
    cols: dict[str, pa.Array] = {
        "event_id": pa.array([f"bench-{i:012d}" for i in range(start, start + n)], pa.string()),
        "event": pa.array(event, pa.string()),
        "time": pa.array(times, pa.timestamp("us")),
        "received_at": pa.array(times + 1_500_000, pa.timestamp("us")),
        "install_id": pa.array(fleet.ids[who], pa.string()),
        "session_id": pa.array(np.char.add(fleet.ids[who].astype(str), (times // (6 * 3_600_000_000)).astype(str))
                               .astype(object), pa.string()),
        "app": pa.array(fleet.app[who], pa.string()),
        "app_version": pa.array(fleet.version[who], pa.string()),
        "os_name": pa.array(fleet.os[who], pa.string()),
        "os_release": pa.array(np.full(n, "6.1.0", dtype=object), pa.string()),
        "arch": pa.array(fleet.arch[who], pa.string()),
        "python_version": pa.array(np.full(n, "3.11.7", dtype=object), pa.string()),
        "mode": pa.array(fleet.mode[who], pa.string()),
        "uptime_s": pa.array(np.where(server_side, rng.exponential(20_000, n), np.nan), pa.float64(),
                             from_pandas=True),
        "cpu_count": pa.array(fleet.cpu[who], pa.int32()),
        "memory_gb": pa.array(fleet.mem[who], pa.float64()),
        "is_ci": pa.array(fleet.ci[who], pa.bool_()),
        "client_install_id": pa.array(np.where(request, fleet.ids[client], None), pa.string()),
        "client_app_version": pa.array(np.where(request, fleet.version[client], None), pa.string()),
        "client_os_name": pa.array(np.where(request, fleet.os[client], None), pa.string()),
        "client_os_release": pa.array(np.where(request, "6.1.0", None), pa.string()),
        "client_arch": pa.array(np.where(request, fleet.arch[client], None), pa.string()),
        "client_user_agent": pa.array(np.where(request, "blindai-python", None), pa.string()),
        "model_name": pa.array(np.where(request, "resnet50", None), pa.string()),
        "model_size_bytes": pa.array(np.where(upload, rng.lognormal(17, 2, n).astype(np.int64) + 1, 0), pa.int64(),
                                     mask=~upload),
        "duration_ms": pa.array(np.where(upload, rng.lognormal(5, 1, n), rng.lognormal(2.5, 0.8, n)), pa.float64(),
                                mask=~(upload | run)),
        "input_bytes": pa.array(rng.integers(100, 1 << 20, n), pa.int64(), mask=~run),
        "ok": pa.array(ok, pa.bool_(), mask=~request),
        "error_kind": pa.array(np.where(request & ~ok, "internal", None), pa.string()),
        "source": pa.array(np.full(n, "native", dtype=object), pa.string()),
        "properties": pa.nulls(n, pa.string()),
    }
    return pa.table([cols[c.name].cast(_ARROW[c.type]) for c in EVENT_COLUMNS], names=[c.name for c in EVENT_COLUMNS])


def seeded_file(results: Path, events: int, installs: int) -> tuple[Path, datetime]:
    """The DuckDB file holding `events` synthetic events (made now, or reused from an earlier run)."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"dashboard-{events}-{installs}-v{SEED_VERSION}.duckdb"
    # Anchored to a fixed day so that a cached file and the queries' 90-day range always agree.
    end = datetime(2026, 1, 1, tzinfo=timezone.utc)
    start = end - timedelta(days=DAYS)
    if path.exists():
        return path, end
    tmp = path.with_suffix(".tmp")
    for stale in (tmp, tmp.with_suffix(".tmp.wal")):
        stale.unlink(missing_ok=True)
    open_store(db=str(tmp)).close()  # the store's own schema, key included
    rng = np.random.default_rng(42)
    fleet = Fleet(rng, installs)
    began = time.perf_counter()
    conn = duckdb.connect(str(tmp))
    # Times are drawn for all events, then inserted in order: the collector stores events roughly as they
    # happen, which is what keeps DuckDB's per-block min/max (zonemaps) useful for time ranges.
    all_times = np.sort(int(start.timestamp() * 1_000_000) + rng.integers(0, DAYS * 86_400_000_000, events))
    for first in range(0, events, CHUNK):
        n = min(CHUNK, events - first)
        batch = _chunk(rng, fleet, first, all_times[first:first + n])
        conn.register("batch", batch)
        conn.execute("INSERT INTO events SELECT * FROM batch")
        conn.unregister("batch")
        print(f"  seeded {first + n:,} / {events:,} events ({time.perf_counter() - began:.1f} s)", flush=True)
    conn.execute("CHECKPOINT")
    conn.close()
    tmp.rename(path)
    return path, end
