"""Dashboard benchmark: each panel's query and the whole page's data over 10 M events in DuckDB.

    .venv/bin/python -m benchmarks.dashboard [--events N] [--installs M] [--repeat R]

Seeds (or reuses) a DuckDB file of N events over 90 days from M installs, then times every panel's query
through `DuckDBStore.fetch` (median of R runs after one warm-up) against its 300 ms budget, and the whole
page's data — the 13 requests the page makes on load, over HTTP to a live server, six at a time as a
browser does — against its 2 s budget. Prints the timings and their ratio to the budget.
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
from datetime import timedelta
from pathlib import Path
from typing import Any

from blindai_telemetry.dashboard import queries, rollup
from blindai_telemetry.dashboard.filters import Filters
from blindai_telemetry.stores import Store, open_store

from .seed import seeded_file

PANEL_BUDGET_MS = 300.0
PAGE_BUDGET_MS = 2000.0
RESULTS = Path(__file__).resolve().parents[1] / "results"


def _median_ms(run: Callable[[], Any], repeat: int) -> float:
    run()  # warm-up: first touch of the file's blocks
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


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
    })
    return cases


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

            return _median_ms(load, repeat)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--installs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print(f"Seeding {args.events:,} events from {args.installs:,} installs over 90 days (cached in {RESULTS})")
    began = time.perf_counter()
    path, end = seeded_file(RESULTS, args.events, args.installs)
    print(f"  file ready in {time.perf_counter() - began:.1f} s: {path.name}, "
          f"{path.stat().st_size / 1e6:,.0f} MB; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(other work on the machine slows every figure below)")
    store = open_store(db=str(path))
    try:
        count = store.summary()["events"]
        assert count == args.events, f"{path} holds {count} events, expected {args.events}"
        began = time.perf_counter()
        rollup.table_for(store, wait=True)
        build_ms = (time.perf_counter() - began) * 1000
        print(f"\nDaily install rollup (in memory, built in the background once per collector start): "
              f"{build_ms:,.0f} ms")

        def check() -> None:
            rollup._ROLLUPS[store]._checked_at = -rollup.CHECK_INTERVAL  # force the once-a-second check
            rollup.table_for(store)

        print(f"  freshness check, nothing new (at most once a second): {_median_ms(check, args.repeat):.1f} ms")
        # The page's default: the last 90 days, CI excluded, daily periods.
        last_day = (end - timedelta(days=1)).date()
        f = Filters(start=last_day - timedelta(days=89), end=last_day)
        print(f"\nPanel queries over {args.events:,} events (median of {args.repeat}; budget {PANEL_BUDGET_MS:.0f} ms)")
        print(f"  {'query':<28} {'ms':>9} {'÷ budget':>9}")
        total = 0.0
        worst = 0.0
        cases = panel_cases(store, f)
        for name, run in cases.items():
            ms = _median_ms(run, args.repeat)
            if name in queries.PANELS or name in ("summary", "options"):
                total += ms
            worst = max(worst, ms)
            flag = "" if ms <= PANEL_BUDGET_MS else "  OVER BUDGET"
            print(f"  {name:<28} {ms:9.1f} {ms / PANEL_BUDGET_MS:9.2f}{flag}")
        pages = {n: page_over_http(store, f, args.repeat, n) for n in (1, 2, 6)}
        print(f"\nWhole page ({len(queries.PANELS) + 2} requests on load; budget {PAGE_BUDGET_MS:.0f} ms)")
        print(f"  one after another, in process      {total:9.1f} ms  ÷ budget {total / PAGE_BUDGET_MS:.2f}")
        for n, page in pages.items():
            print(f"  over HTTP, {n} request(s) in flight       {page:9.1f} ms  ÷ budget {page / PAGE_BUDGET_MS:.2f}")
        print(f"\nSlowest panel query: {worst:.1f} ms ({worst / PANEL_BUDGET_MS:.2f} of its budget); "
              f"load average now {os.getloadavg()[0]:.1f}")
    finally:
        store.close()


if __name__ == "__main__":
    main()
