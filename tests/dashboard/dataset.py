"""A known, deterministic fleet of events for the dashboard tests, and reference answers computed in Python.

The rows are what the collector writes (`stores.base.EVENT_COLUMNS`, `time` in Unix ms). The reference
functions below compute each panel's figures from the rows with plain Python and `statistics`, independently
of the SQL, so the tests compare two computations rather than a query against numbers copied from its output.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

DAY_MS = 86_400_000
MODES = ("hardware", "simulation", "simulation", "simulation", "dcsv3")


def _ms(day: date, seconds: float = 0.0) -> int:
    return int(datetime.combine(day, time(), tzinfo=timezone.utc).timestamp() * 1000 + seconds * 1000)


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date()


def fleet(start: date, days: int = 28, servers: int = 12, clients: int = 8, seed: int = 7) -> list[dict[str, Any]]:
    """Servers (some in CI, some seeded) with sessions, uploads and runs by clients, over `days` days."""
    rng = random.Random(seed)

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    rows: list[dict[str, Any]] = []
    client_ids = [uid() for _ in range(clients)]
    client_info = {
        c: {"client_app_version": rng.choice(["0.6.2", "0.6.3"]), "client_os_name": rng.choice(["Linux", "Darwin"]),
            "client_arch": rng.choice(["x86_64", "arm64"]), "client_user_agent": "blindai-python",
            "client_os_release": "6.1.0"}
        for c in client_ids
    }
    # Platform names as each OS spells them (Linux aarch64, Windows AMD64, an old sender's lower case): the
    # dashboard must count each architecture and OS under one name.
    for k, c in enumerate(client_ids):
        if k % 3 == 0:
            client_info[c]["client_arch"] = {"arm64": "aarch64", "x86_64": "AMD64"}[client_info[c]["client_arch"]]
        if k % 4 == 1:
            client_info[c]["client_os_name"] = client_info[c]["client_os_name"].lower()

    def add(event: str, ms: int, ctx: dict[str, Any], **props: Any) -> None:
        row = {"event_id": uid(), "event": event, "time": ms, "received_at": ms + 1500, "source": "native",
               **ctx, **props}
        rows.append(row)

    for i in range(servers):
        install = uid()
        ctx = {
            "install_id": install, "app": "blindai-server", "app_version": "0.6.2" if i < 4 else "0.6.3",
            "os_name": "Windows" if i % 6 == 1 else "Linux", "os_release": "6.1.0",
            "arch": "aarch64" if i % 5 == 0 else "AMD64" if i % 6 == 1 else "amd64" if i % 6 == 4 else "x86_64",
            "python_version": "3.11.7", "mode": MODES[i % len(MODES)], "cpu_count": rng.choice([2, 4, 8]),
            "memory_gb": float(rng.choice([8, 16, 32])), "is_ci": i == servers - 1,
        }
        if i == 1:
            ctx["source"] = "seed"
        first = rng.randrange(0, days - 7)
        for s in range(rng.randint(1, 3)):
            day = start + timedelta(days=min(days - 1, first + s * rng.randint(3, 8)))
            sess = {**ctx, "session_id": uid()}
            t = rng.uniform(0, 40_000)
            add("server_started", _ms(day, t), {**sess, "uptime_s": 0.5})
            up = 1.0
            if i % 4 != 3:  # every fourth server never uploads: the funnel's first drop
                for _ in range(rng.randint(1, 3)):
                    up += rng.uniform(5, 600)
                    c = rng.choice(client_ids)
                    add("model_uploaded", _ms(day, t + up), {**sess, "uptime_s": up}, client_install_id=c,
                        **client_info[c], model_name="resnet50", model_size_bytes=rng.choice([3, 40, 90, 700]) << 20,
                        duration_ms=round(rng.uniform(50, 900), 3), ok=rng.random() > 0.1,
                        properties={})
                    if i % 4 != 2:  # these upload but never run: the second drop
                        for _ in range(rng.randint(1, 6)):
                            up += rng.uniform(1, 900)
                            add("model_run", _ms(day, t + up), {**sess, "uptime_s": up}, client_install_id=c,
                                **client_info[c], model_name="resnet50", duration_ms=round(rng.uniform(2, 80), 3),
                                input_bytes=1024, ok=True)
            up += rng.choice([30, 1200, 5000, 30_000, 200_000])
            add("server_stopped", _ms(day, t + up), {**sess, "uptime_s": up})
    for c in client_ids:
        info = client_info[c]
        ctx = {"install_id": c, "app": "blindai-client", "app_version": info["client_app_version"],
               "os_name": info["client_os_name"], "arch": info["client_arch"], "is_ci": False,
               "session_id": uid()}
        for _ in range(rng.randint(1, 4)):
            add("client_connected", _ms(start + timedelta(days=rng.randrange(days)), rng.uniform(0, 86_000)), ctx)
    rows.sort(key=lambda r: r["time"])
    return rows


# --- reference answers --------------------------------------------------------------------------------------


def visible(rows: list[dict[str, Any]], include_ci: bool = False, **equal: Any) -> list[dict[str, Any]]:
    """The rows the dashboard counts by default (CI excluded), optionally restricted to column values."""
    return [r for r in rows if (include_ci or not r.get("is_ci")) and all(r.get(k) == v for k, v in equal.items())]


def daily_installs(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    servers: dict[str, set[str]] = defaultdict(set)
    clients: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        day = day_of(r["time"]).isoformat()
        (servers if r.get("mode") else clients)[day].add(r["install_id"])
        if r.get("client_install_id"):
            clients[day].add(r["client_install_id"])
    return {d: (len(servers[d]), len(clients[d])) for d in sorted(set(servers) | set(clients))}


def event_counts(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        out[(day_of(r["time"]).isoformat(), r["event"])] += 1
    return dict(out)
