"""Seed a ClickHouse store (chDB, in process) with N synthetic events over 90 days, inside the engine.

`INSERT ... SELECT ... FROM numbers(N)` with every column drawn from hashes of the row number: deterministic,
and ~100 times faster than sending rows from Python (100 M rows would take hours through the client). The rows go
through the store's own tables and materialized views, as a collector's inserts do. The fleet is shaped like
`seed.py`'s (60 % servers, skewed activity, the same event mix, versions, modes and platforms, spelled as each
OS does); the chDB directory is cached under benchmarks/results/ between runs.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from blindai_telemetry.stores.clickhouse import ClickHouseStore

from .seed import DAYS

SEED_VERSION = 1
CHUNK = 10_000_000
DATABASE = "bench"

# u(k): a uniform draw in [0, 1) from the row number and a salt; ids come from hashes of the install number.
_U = "(cityHash64(number, {k}) % 1000000000) / 1e9"
_UUID = ("lower(concat(substring(hex(cityHash64({i}, 7)), 1, 8), '-', substring(hex(cityHash64({i}, 7)), 9, 4), "
         "'-4', substring(hex(cityHash64({i}, 7)), 13, 3), '-8', substring(hex(cityHash64({i}, 8)), 1, 3), '-', "
         "substring(hex(cityHash64({i}, 8)), 4, 12)))")
_PICK = "arrayElement({values}, 1 + toUInt32(cityHash64({i}, {k}) % {n}))"


def _insert(first: int, count: int, total: int, installs: int, start: datetime) -> str:
    servers = int(installs * 0.6)
    clients = installs - servers
    span_ms = DAYS * 86_400_000
    u = {k: _U.format(k=k) for k in range(1, 10)}
    # Skewed activity: a few installs send most events (as seed.py's Pareto weights do).
    server = f"toUInt32({servers} * pow({u[2]}, 2.5))"
    client = f"({servers} + toUInt32({clients} * pow({u[3]}, 2.5)))"
    started = start.strftime("%Y-%m-%d %H:%M:%S")
    return f"""
INSERT INTO events
WITH {u[1]} AS e, multiIf(e < 0.72, 'model_run', e < 0.82, 'model_uploaded', e < 0.90, 'client_connected',
                        e < 0.94, 'server_started', e < 0.98, 'server_stopped', 'model_deleted') AS ev,
     ev = 'client_connected' AS by_client, if(by_client, {client}, {server}) AS who,
     ev IN ('model_run', 'model_uploaded', 'model_deleted') AS request, {client} AS cl,
     toDateTime64('{started}', 3, 'UTC') + toIntervalMillisecond(intDiv(number * {span_ms}, {total})) AS t,
     {u[4]} > 0.03 AS good,
     sqrt(-2 * log(greatest({u[5]}, 1e-9))) * cos(2 * pi() * {u[6]}) AS z
SELECT concat('bench-', toString(number)) AS event_id, ev AS event, t AS time, t + toIntervalMillisecond(1500),
       {_UUID.format(i='who')} AS install_id, concat({_UUID.format(i='who')}, '-', toString(intDiv(number, 2000000))),
       if(by_client, 'blindai-client', 'blindai-server') AS app,
       if(by_client, {_PICK.format(values="['0.5.10', '0.6.0', '0.6.2', '0.6.3']", i='who', k=11, n=4)},
          {_PICK.format(values="['0.5.6', '0.6.0', '0.6.2', '0.6.3']", i='who', k=11, n=4)}) AS app_version,
       {_PICK.format(values="['Linux', 'Linux', 'Linux', 'Darwin', 'Windows', 'linux']", i='who', k=12, n=6)},
       '6.1.0', {_PICK.format(values="['x86_64', 'x86_64', 'AMD64', 'aarch64', 'arm64']", i='who', k=13, n=5)},
       '3.11.7',
       if(by_client, NULL, {_PICK.format(values="['simulation', 'simulation', 'hardware', 'dcsv3']", i='who', k=14,
                                         n=4)}) AS mode,
       if(by_client, NULL, -20000 * log(greatest({u[7]}, 1e-9))),
       toInt32({_PICK.format(values='[2, 4, 8, 16, 32, 64]', i='who', k=15, n=6)}),
       {_PICK.format(values='[4., 8., 16., 32., 64., 128.]', i='who', k=16, n=6)},
       cityHash64(who, 17) % 20 = 0,
       if(request, {_UUID.format(i='cl')}, NULL),
       if(request, {_PICK.format(values="['0.5.10', '0.6.0', '0.6.2', '0.6.3']", i='cl', k=11, n=4)}, NULL),
       if(request, {_PICK.format(values="['Linux', 'Darwin', 'Windows']", i='cl', k=12, n=3)}, NULL),
       if(request, '6.1.0', NULL),
       if(request, {_PICK.format(values="['x86_64', 'AMD64', 'aarch64']", i='cl', k=13, n=3)}, NULL),
       if(request, 'blindai-python', NULL),
       if(request, 'resnet50', NULL),
       if(ev = 'model_uploaded', toInt64(exp(17 + 2 * z)) + 1, NULL),
       multiIf(ev = 'model_uploaded', exp(5 + z), ev = 'model_run', exp(2.5 + 0.8 * z), NULL),
       if(ev = 'model_run', toInt64(100 + cityHash64(number, 18) % 1048576), NULL),
       if(request, good, NULL), if(request AND NOT good, 'internal', NULL), 'native', NULL
FROM numbers({first}, {count})
SETTINGS max_insert_threads = 2"""


def seeded_store(results: Path, events: int, installs: int) -> tuple[ClickHouseStore, datetime]:
    """A chDB store holding `events` synthetic events (seeded now, or reused from an earlier run)."""
    path = results / f"chdb-dashboard-{events}-{installs}-v{SEED_VERSION}"
    done = path / "SEEDED"
    end = datetime(2026, 1, 1, tzinfo=timezone.utc)  # the same days as seed.py's DuckDB file
    start = end - timedelta(days=DAYS)
    store = ClickHouseStore.from_chdb(str(path), database=DATABASE)
    if done.exists():
        _at_rest(store)
        return store, end
    client = store._client
    # The events first, without the rollup's views (aggregating every 1 M-row block twice tripled the time);
    # then the store fills the rollup at its next opening, as it does for a store made before the rollup.
    for statement in ("DROP VIEW IF EXISTS install_days_own", "DROP VIEW IF EXISTS install_days_clients",
                      "DROP TABLE IF EXISTS install_days", "TRUNCATE TABLE events"):
        client.command(statement)
    began = time.perf_counter()
    for first in range(0, events, CHUNK):
        count = min(CHUNK, events - first)
        client.command(_insert(first, count, events, installs, start))
        print(f"  seeded {first + count:,} / {events:,} events ({time.perf_counter() - began:.0f} s)", flush=True)
    store.close()
    began = time.perf_counter()
    store = ClickHouseStore.from_chdb(str(path), database=DATABASE)
    print(f"  rollup filled by the store in {time.perf_counter() - began:.0f} s", flush=True)
    _at_rest(store)
    done.write_text(f"{events} events, {installs} installs\n")
    return store, end


def _at_rest(store: ClickHouseStore) -> None:
    """Merge `install_days` to one part a month, as a store at rest whose merges have caught up: after seeding, and
    after a newer version remade the rollup at this opening (its fill leaves several parts a month)."""
    (parts,) = store._client.query("SELECT max(n) FROM (SELECT count() AS n FROM system.parts WHERE active AND "
                                   "database = currentDatabase() AND table = 'install_days' GROUP BY partition)"
                                   ).result_rows[0]
    if parts > 1:
        began = time.perf_counter()
        store._client.command("OPTIMIZE TABLE install_days FINAL")
        print(f"  install_days merged to one part a month (it had up to {parts}) in "
              f"{time.perf_counter() - began:.0f} s", flush=True)
