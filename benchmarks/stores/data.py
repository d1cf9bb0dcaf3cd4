"""Synthetic events for the store benchmarks: dict rows (what the collector hands `Store.write`) and a
columnar bulk loader (to fill a store with a million rows quickly, outside the timed part)."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pyarrow as pa

from blindai_telemetry.stores._arrow import SCHEMA

START_MS = 1_756_684_800_000  # 2025-09-01
DAY_MS = 86_400_000
EVENTS = ["model_run"] * 8 + ["model_uploaded", "server_started", "client_connected", "model_deleted"]


def install_ids(n: int) -> list[str]:
    rng = random.Random(n)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def make_rows(n: int, installs: list[str], seed: int = 0) -> list[dict[str, Any]]:
    """n realistic rows (most columns set), over 90 days and the given installs."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        t = START_MS + rng.randrange(90 * DAY_MS)
        rows.append({
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event": rng.choice(EVENTS), "time": t, "received_at": t + rng.randrange(5_000),
            "install_id": rng.choice(installs), "session_id": "c2a1c2a1-0000-4000-8000-000000000002",
            "app": "blindai-server", "app_version": rng.choice(["0.6.3", "0.6.2", "0.5.10"]), "os_name": "Linux",
            "os_release": "6.1.0", "arch": "x86_64", "python_version": "3.11.7", "mode": "simulation",
            "uptime_s": rng.random() * 1e5, "cpu_count": 8, "memory_gb": 32.0, "is_ci": False,
            "client_install_id": rng.choice(installs), "client_app_version": "0.6.3", "client_os_name": "Linux",
            "client_os_release": "6.1.0", "client_arch": "x86_64", "client_user_agent": "blindai-python",
            "model_name": rng.choice(["resnet50", "distilbert", "h:3f2a9c"]), "model_size_bytes": None,
            "duration_ms": rng.lognormvariate(3, 1), "input_bytes": rng.randrange(1 << 20), "ok": rng.random() > 0.02,
            "error_kind": None, "source": "native", "properties": None,
        })
    return rows


def bulk_table(n: int, installs: list[str], seed: int = 1) -> pa.Table:
    """n rows as one Arrow table of the events schema, in time order (as a collector fills a store)."""
    rng = random.Random(seed)
    times = sorted(START_MS + rng.randrange(90 * DAY_MS) for _ in range(n))
    columns: dict[str, Any] = {
        "event_id": [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)],
        "event": [EVENTS[rng.randrange(len(EVENTS))] for _ in range(n)],
        "time": times, "received_at": times,
        "install_id": [installs[rng.randrange(len(installs))] for _ in range(n)],
        "app": ["blindai-server"] * n, "mode": ["simulation"] * n,
        "client_install_id": [installs[rng.randrange(len(installs))] for _ in range(n)],
        "duration_ms": [rng.random() * 100 for _ in range(n)],
    }
    arrays = [pa.array(columns.get(f.name, [None] * n), type=f.type) for f in SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)
