"""A fleet with known true counts for the publish tests: cells well above k, a 3-install cell on every table,
CI installs and today's installs that must not count, and a version that fails the release pattern.

`fleet(today)` returns the rows (as the collector writes them) and `Expected`, the true figures computed from
the fleet's description, not from any query.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

#: (count, version, mode, os, arch, ci, only_today): the servers of the fleet.
SERVERS = (
    (14, "0.6.3", "simulation", "Linux", "x86_64", False, False),
    (11, "0.6.2", "hardware", "Linux", "x86_64", False, False),
    (3, "0.5.1", "dcsv3", "Windows", "arm64", False, False),  # the 3-install cell of every server table
    (12, "0.9.9", "dcsv3", "Windows", "arm64", True, False),  # CI: with them each would pass k
    (11, "0.8.0", "dcsv3", "Windows", "arm64", False, True),  # only today, outside the period
    (10, "1.0.0+acme.build7", "simulation", "Linux", "x86_64", False, False),  # passes k, fails the pattern
)
#: Clients named by the servers' events (client_install_id) and clients sending their own events.
NAMED_CLIENTS = (12, "0.6.3", "Darwin", "x86_64")
OWN_CLIENTS = (3, "0.6.0", "Darwin", "x86_64")
#: Suppressed values: never named anywhere in the output.
HIDDEN = ("0.5.1", "0.9.9", "0.8.0", "1.0.0+acme.build7", "acme", "0.6.0", "dcsv3", "Windows", "arm64")
WEEKS = 4


def _ms(day: date, seconds: float) -> int:
    return int(datetime.combine(day, time(), tzinfo=timezone.utc).timestamp() * 1000 + seconds * 1000)


@dataclass
class Expected:
    installs: int = 0
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)


def fleet(today: date, seed: int = 5) -> tuple[list[dict[str, Any]], Expected]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    expected = Expected(tables={t: {} for t in ("server_versions", "client_versions", "modes", "os", "arch")})

    def uid() -> str:
        value = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        expected.ids.append(value)
        return value

    def count(table: str, value: str) -> None:
        expected.tables[table][value] = expected.tables[table].get(value, 0) + 1

    clients = [uid() for _ in range(NAMED_CLIENTS[0])]
    n = 0
    for how_many, version, mode, os_name, arch, ci, only_today in SERVERS:
        for _ in range(how_many):
            n += 1
            ctx = {"install_id": uid(), "app": "blindai-server", "app_version": version, "mode": mode,
                   "os_name": os_name, "arch": arch, "is_ci": ci, "session_id": uid(), "source": "native",
                   "model_name": f"h{rng.getrandbits(64):016x}"}
            days = [today] if only_today else [today - timedelta(days=7 * w + 2) for w in range(WEEKS)]
            for d in days:
                t = n * 10.0  # distinct times per install: "the value reported last" is never a tie
                rows.append({**ctx, "event_id": uid(), "event": "server_started", "time": _ms(d, t)})
                for r in range(3):
                    client = clients[(n + r) % len(clients)]
                    rows.append({**ctx, "event_id": uid(), "event": "model_run", "time": _ms(d, t + 1 + r),
                                 "duration_ms": round(rng.uniform(5, 80), 3), "ok": True,
                                 "client_install_id": client, "client_app_version": NAMED_CLIENTS[1],
                                 "client_os_name": NAMED_CLIENTS[2], "client_arch": NAMED_CLIENTS[3]})
            if not ci and not only_today:
                expected.installs += 1
                for table, value in (("server_versions", version), ("modes", mode), ("os", os_name),
                                     ("arch", arch)):
                    count(table, value)
    for _ in range(OWN_CLIENTS[0]):
        n += 1
        rows.append({"install_id": uid(), "app": "blindai-client", "app_version": OWN_CLIENTS[1],
                     "os_name": OWN_CLIENTS[2], "arch": OWN_CLIENTS[3], "event_id": uid(),
                     "event": "client_connected", "time": _ms(today - timedelta(days=3), n * 10.0)})
    for c, (_, version, os_name, arch) in ((NAMED_CLIENTS[0], NAMED_CLIENTS), (OWN_CLIENTS[0], OWN_CLIENTS)):
        expected.installs += c
        for _ in range(c):
            count("client_versions", version)
            count("os", os_name)
            count("arch", arch)
    for row in rows:
        row["received_at"] = row["time"] + 1000
    return rows, expected
