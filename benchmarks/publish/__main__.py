"""Time `blindai-telemetry publish` over the dashboard benchmark's DuckDB file, against a same-run floor.

    python -m benchmarks.publish [--events 10000000] [--installs 50000] [--db PATH]

Seeds (or reuses) the dashboard benchmark's file in benchmarks/results/ (or reads a copy given by --db: never a
file a collector has open), then times, on the same file and in the same run:
- the floor: `SELECT count(DISTINCT install_id)` over the period's events (what any distinct-install figure
  costs at least);
- `figures.gather` (the queries) and the whole command as a user runs it (a new process: imports, the queries,
  noise, writing the directory), against the 10 s budget.
Prints the load average before and after: the machine is shared, and the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.dashboard.seed import seeded_file
from blindai_telemetry.publish import figures
from blindai_telemetry.stores import open_store

RESULTS = Path(__file__).resolve().parents[1] / "results"
BUDGET_S = 10.0
BIN = str(Path(sys.executable).with_name("blindai-telemetry"))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _timed(run: object) -> float:
    began = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--installs", type=int, default=50_000)
    parser.add_argument("--db", type=Path, help="a DuckDB file made by benchmarks.dashboard (a copy)")
    args = parser.parse_args()
    if args.db is not None:
        path, last_day = args.db, date(2025, 12, 31)  # the dashboard seed's fixed 90 days end on 2026-01-01
    else:
        file, end = seeded_file(RESULTS, args.events, args.installs)
        path, last_day = file, end.date().fromordinal(end.date().toordinal() - 1)
    start, stop = figures.period(90, date.today(), last_day)
    print(f"publish benchmark on {path.name} ({path.stat().st_size / 1e9:.2f} GB), period {start} to {stop}")
    print(f"  load average at start: {_load()}  (cores: {os.cpu_count()})")

    store = open_store(db=str(path))
    try:
        rows = store.fetch("SELECT count(*) AS n FROM events")[0]["n"]
        floor_sql = (f"SELECT count(DISTINCT install_id) AS n FROM events WHERE time >= TIMESTAMP '{start}' "
                     f"AND time < TIMESTAMP '{stop}' + INTERVAL 1 DAY")
        floor = min(_timed(lambda: store.fetch(floor_sql)) for _ in range(3))
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        gather = min(_timed(lambda: figures.gather(store, start, stop)) for _ in range(3))
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        store.close()
    cpu = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / 3
    out = Path(tempfile.mkdtemp(prefix="publish-bench-"))
    try:
        command = [BIN, "publish", "--db", str(path), "--out", str(out / "site"), "--until", str(stop),
                   "--seed", "benchmark"]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        whole = _timed(lambda: subprocess.run(command, check=True, capture_output=True))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        whole_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"  events in the file: {rows:,}")
    print(f"  floor  count(DISTINCT install_id) over the period: {floor:6.2f} s")
    print(f"  gather (the report's queries, best of 3):          {gather:6.2f} s  = {gather / floor:4.1f} x floor, "
          f"CPU {cpu:.2f} s ({cpu / rows * 1e9:.0f} ns/event)")
    print(f"  `blindai-telemetry publish` (new process, once):   {whole:6.2f} s  = {whole / floor:4.1f} x floor, "
          f"CPU {whole_cpu:.2f} s, budget {BUDGET_S:.0f} s: {'met' if whole <= BUDGET_S else 'NOT met'}")
    print(f"  load average at end: {_load()}")


if __name__ == "__main__":
    main()
