"""Dashboard benchmark: each panel's query and the whole page's data, DuckDB (10 M events) beside ClickHouse (100 M).

    .venv/bin/python -m benchmarks.dashboard [--store duckdb|clickhouse|both] [--events N]
        [--clickhouse-events N] [--installs M] [--repeat R] [--no-http]

Seeds (or reuses) a DuckDB file and a chDB store (ClickHouse in process, `ClickHouseStore.from_chdb`) of synthetic
events over 90 days from M installs, then times every panel's query through the dashboard's own `queries` (median
of R runs after one warm-up; wall time and this process's CPU time), and the whole page's data — the requests the
page makes on load, over HTTP to a live server — against issue 15's budgets (DuckDB 10 M: 150 ms a panel, 1 s
the page; ClickHouse 100 M: 300 ms, 2 s). Beside each figure: its ratio to a scan floor measured in the same
run (distinct install ids over the whole table), and the load average, so a slower machine can be told from a
slower query.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from blindai_telemetry.dashboard import queries, rollup
from blindai_telemetry.dashboard.filters import Filters
from blindai_telemetry.stores import Store, open_store

from .seed import seeded_file
from .seed_clickhouse import seeded_store

#: Issue 15's targets: DuckDB at 10 M events, ClickHouse (chDB) at 100 M.
DUCKDB_PANEL_MS, DUCKDB_PAGE_MS = 150.0, 1000.0
CLICKHOUSE_PANEL_MS, CLICKHOUSE_PAGE_MS = 300.0, 2000.0
RESULTS = Path(__file__).resolve().parents[1] / "results"


def panel_cases(store: Store, f: Filters) -> dict[str, Callable[[], Any]]:
    """Every panel as the page loads it, plus the variants a user reaches with one click."""
    cases: dict[str, Callable[[], Any]] = {
        "summary": lambda: queries.summary(store),
        "options": lambda: queries.options(store),
    }
    for panel in queries.PANELS.values():
        cases[panel.id] = (lambda p=panel: p.query(store, f))
    week, month = Filters(f.start, f.end, granularity="week"), Filters(f.start, f.end, granularity="month")
    cases.update({
        "active_installs (week)": lambda: queries.active_installs(store, week),
        "active_installs (month)": lambda: queries.active_installs(store, month),
        "versions (week)": lambda: queries.versions(store, week),
        "performance by version": lambda: queries.performance(store, f, "version"),
        "performance by mode": lambda: queries.performance(store, f, "mode"),
        "events, CI included": lambda: queries.events_over_time(store, Filters(f.start, f.end, include_ci=True)),
        "events, mode=dcsv3 v0.6.3": lambda: queries.events_over_time(
            store, Filters(f.start, f.end, app_version="0.6.3", mode="dcsv3")),
        "funnel (30-day window)": lambda: queries.funnel(store, Filters(f.start, f.end, window_days=30)),
        # The longest window the page takes: every row of an install from its first start on.
        "funnel (90-day window)": lambda: queries.funnel(store, Filters(f.start, f.end, window_days=90)),
        # ClickHouse's slowest window: the one where its first and last run of a day most often cannot decide.
        "funnel (1-day window)": lambda: queries.funnel(store, Filters(f.start, f.end, window_days=1)),
    })
    return cases


def reference_cases(store: Store, f: Filters) -> dict[str, Callable[[], Any]]:
    """Not panels: the funnel's answers from the raw events, as before the rollup kept its steps (in the same run,
    to show what the rollup saves; no budget applies)."""
    return {
        "funnel, from the events": lambda: _from_events(lambda: queries.funnel(store, f)),
        "funnel (30 days), events": lambda: _from_events(
            lambda: queries.funnel(store, Filters(f.start, f.end, window_days=30))),
    }


def _from_events(run: Callable[[], Any]) -> Any:
    """`run` with the rollup out of reach, so that the panels read the raw events."""
    table_for = rollup.table_for
    rollup.table_for = lambda *a, **k: None  # type: ignore[assignment]
    try:
        return run()
    finally:
        rollup.table_for = table_for


def page_over_http(store: Store, f: Filters, repeat: int, in_flight: int) -> float:
    """Wall time of the page's 13 requests on load, `in_flight` at a time, through uvicorn."""
    import httpx
    import uvicorn
    from fastapi import FastAPI

    from blindai_telemetry.collector.settings import CollectorSettings
    from blindai_telemetry.dashboard.api import router

    # The dashboard router alone, on the collector's settings: no ingestion threads competing for the cores.
    app = FastAPI()
    app.state.settings = CollectorSettings()
    app.state.store = store
    app.include_router(router)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it
    # Nagle's algorithm against the client's delayed ACK adds ~40 ms to every keep-alive request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    params = {"from": f.start.isoformat() if f.start else None, "to": f.end.isoformat() if f.end else None}
    paths = ["/api/v1/summary", "/api/v1/options", *(f"/api/v1/{p}" for p in queries.PANELS)]
    try:
        with httpx.Client(base_url=base, timeout=60) as client, ThreadPoolExecutor(in_flight) as pool:
            def load() -> None:
                for response in pool.map(lambda p: client.get(p, params=params if "v1/summary" not in p else None),
                                         paths):
                    response.raise_for_status()

            return _measure(load, repeat)[0]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


FLOOR_SQL = {
    "duckdb": "SELECT count(DISTINCT install_id) AS n FROM events",
    "clickhouse": "SELECT uniqExact(install_id) AS n FROM events SETTINGS final = 0",
}


@dataclass
class Run:
    """One store's figures: per query, the median wall and CPU ms; the floor; the page over HTTP."""

    name: str
    events: int
    floor_ms: float = 0.0
    floor_cpu_ms: float = 0.0
    queries: dict[str, tuple[float, float]] = field(default_factory=dict)
    references: dict[str, tuple[float, float]] = field(default_factory=dict)
    pages: dict[int, float] = field(default_factory=dict)
    in_process_ms: float = 0.0


def _measure(run: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median wall ms and median CPU ms of this process (every thread: DuckDB's and chDB's run here)."""
    run()  # warm-up: first touch of the file's blocks
    wall, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def _open(kind: str, events: int, installs: int) -> tuple[Store, Any]:
    if kind == "clickhouse":
        print(f"Seeding {events:,} events from {installs:,} installs over 90 days in chDB (cached in {RESULTS})")
        store, end = seeded_store(RESULTS, events, installs)
        return store, end
    print(f"Seeding {events:,} events from {installs:,} installs over 90 days in DuckDB (cached in {RESULTS})")
    path, end = seeded_file(RESULTS, events, installs)
    print(f"  {path.name}, {path.stat().st_size / 1e6:,.0f} MB")
    store = open_store(db=str(path))
    began = time.perf_counter()
    rollup.table_for(store, wait=True)
    print(f"  daily install rollup (in memory, built in the background once per collector start): "
          f"{(time.perf_counter() - began) * 1000:,.0f} ms")
    return store, end


def measure_store(kind: str, events: int, installs: int, repeat: int, http: bool) -> Run:
    store, end = _open(kind, events, installs)
    out = Run(kind, events)
    try:
        count = int(store.fetch("SELECT count(*) AS n FROM events")[0]["n"])
        assert count == events, f"the {kind} store holds {count} events, expected {events}"
        out.floor_ms, out.floor_cpu_ms = _measure(lambda: store.fetch(FLOOR_SQL[kind]), repeat)
        # The page's default: the last 90 days, CI excluded, daily periods.
        last_day = (end - timedelta(days=1)).date()
        f = Filters(start=last_day - timedelta(days=89), end=last_day)
        for name, run in panel_cases(store, f).items():
            if kind == "duckdb":
                # A check is due, as for a page's first request; with nothing written meanwhile (no ingestion
                # here) the store's change count spares its scan of the events (63 ms at 10 M, paid at most once
                # a second under ingestion).
                rollup._ROLLUPS[store]._checked_at = -rollup.CHECK_INTERVAL
            out.queries[name] = _measure(run, repeat)
            print(f"  {kind} {name:<28} {out.queries[name][0]:9.1f} ms", flush=True)
            if name in queries.PANELS or name in ("summary", "options"):
                out.in_process_ms += out.queries[name][0]
        for name, run in reference_cases(store, f).items():
            out.references[name] = _measure(run, repeat)
            print(f"  {kind} {name:<28} {out.references[name][0]:9.1f} ms (reference)", flush=True)
        if http:
            out.pages = {n: page_over_http(store, f, repeat, n) for n in (1, 6)}
    finally:
        store.close()
    return out


def _cell(ms: float | None, floor: float, budget: float | None) -> str:
    if ms is None:
        return f"{'':>9} {'':>7}"
    flag = "*" if budget is not None and ms > budget else " "
    return f"{ms:8.1f}{flag} {ms / floor:6.1f}x"


def report(runs: list[Run], load_before: float) -> None:
    budgets = {"duckdb": (DUCKDB_PANEL_MS, DUCKDB_PAGE_MS), "clickhouse": (CLICKHOUSE_PANEL_MS, CLICKHOUSE_PAGE_MS)}
    print(f"\n{os.cpu_count()} cores; load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} now "
          "(other work on the machine slows every figure; the ratios to the floor do not move with it)")
    head = "".join(f"  {r.name + f' {r.events / 1e6:g} M':>17} {'÷floor':>7}  {'cpu ms':>7}" for r in runs)
    print(f"\n{'query (median ms; * over budget)':<32}{head}")
    floor = "".join(f"  {r.floor_ms:16.1f}  {1:6.1f}x  {r.floor_cpu_ms:7.0f}" for r in runs)
    print(f"{'scan floor: distinct install ids':<32}{floor}")
    for name in runs[0].queries:
        cells = "".join(f"  {_cell(r.queries[name][0], r.floor_ms, budgets[r.name][0]):>17}  "
                        f"{r.queries[name][1]:7.0f}" for r in runs)
        print(f"{name:<32}{cells}")
    print(f"{'whole page, in process, serial':<32}"
          + "".join(f"  {_cell(r.in_process_ms, r.floor_ms, budgets[r.name][1]):>17}  {'':>7}" for r in runs))
    for n in (1, 6):
        if all(n in r.pages for r in runs):
            print(f"{f'whole page over HTTP, {n} in flight':<32}"
                  + "".join(f"  {_cell(r.pages[n], r.floor_ms, budgets[r.name][1]):>17}  {'':>7}" for r in runs))
    print("reference, not a panel (no budget): the same answers from the raw events")
    for name in runs[0].references:
        cells = "".join(f"  {_cell(r.references[name][0], r.floor_ms, None):>17}  "
                        f"{r.references[name][1]:7.0f}" for r in runs)
        print(f"{name:<32}{cells}")
    for r in runs:
        panel, page = budgets[r.name]
        worst = max(ms for ms, _ in r.queries.values())
        over = sorted(name for name, (ms, _) in r.queries.items() if ms > panel)
        print(f"{r.name}: budgets {panel:.0f} ms a panel, {page:.0f} ms the page; slowest panel query {worst:.1f} ms "
              f"({worst / r.floor_ms:.2f}x the floor); over budget: {', '.join(over) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["duckdb", "clickhouse", "both"], default="both")
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the DuckDB store")
    parser.add_argument("--clickhouse-events", type=int, default=100_000_000, help="events in the chDB store")
    parser.add_argument("--installs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-http", action="store_true", help="skip the page over HTTP")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    kinds = ["duckdb", "clickhouse"] if args.store == "both" else [args.store]
    runs = [measure_store(k, args.clickhouse_events if k == "clickhouse" else args.events, args.installs,
                          args.repeat, not args.no_http) for k in kinds]
    report(runs, load)


if __name__ == "__main__":
    main()
