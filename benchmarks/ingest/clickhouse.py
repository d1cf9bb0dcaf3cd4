"""The ingestion benchmark's ClickHouse phases (`--stores ...,clickhouse`): the same loaders against
`serve --store clickhouse://...` with one collector, then two, in front of chDB behind its HTTP front (a process of
its own that owns the data, as a server does); and ClickHouse's events/s over DuckDB's when both ran."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.ingest.run import (
    TARGET_EVENTS_PER_S,
    Row,
    _events_per_write,
    _per_100k,
    _phase,
    _start_collector,
    _stop,
)


def _start_clickhouse(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """chDB behind its HTTP front, in a process of its own that owns the data (as a ClickHouse server)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "front.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "blindai_telemetry.testing.chdb_http", str(workdir / "data")],
                                   stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return process, int(found.group(1))
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the chDB front did not start: " + log.read_text())


def run(args: argparse.Namespace, workdir: Path) -> tuple[list[Row], str]:
    """The same loaders against 1, then 2 collectors on one ClickHouse (chDB via its HTTP front)."""
    front, port = _start_clickhouse(workdir / "clickhouse")
    phases: dict[int, dict[str, Any]] = {}
    try:
        for n in (1, 2):
            store = f"clickhouse://default:@127.0.0.1:{port}/bench{n}?compress=false"
            started = [_start_collector(workdir / f"clickhouse-{n}-{i}", ["--store", store]) for i in range(n)]
            try:
                watch = {"front": front.pid, **{f"collector{i}": p.pid for i, (p, _) in enumerate(started)}}
                phases[n] = _phase([url for _, url in started], started[0][0].pid, args.loaders, args.connections,
                                   args.duration, None, 4000 + 100 * n, watch=watch)
                phases[n]["per_write"] = _events_per_write(started[0][1])
            finally:
                for process, _ in started:
                    _stop(process)
    finally:
        _stop(front)
    one, two = phases[1], phases[2]
    collectors_cpu = {"cpu_s": {"all": sum(v for k, v in two["cpu_s"].items() if k != "front")},
                      "events": two["events"]}
    rows: list[Row] = [
        ("ClickHouse (chDB front), 1 collector, ev/s", one["events_per_s"], TARGET_EVENTS_PER_S,
         one["events_per_s"] / TARGET_EVENTS_PER_S),
        ("ClickHouse (chDB front), 2 collectors, ev/s", two["events_per_s"], TARGET_EVENTS_PER_S,
         two["events_per_s"] / TARGET_EVENTS_PER_S),
        ("2 collectors / 1 collector", two["events_per_s"] / one["events_per_s"], None, None),
        ("ClickHouse collector CPU s per 100k events", _per_100k(one, "collector0"), None, None),
        ("chDB front CPU s per 100k events", _per_100k(one, "front"), None, None),
        ("2 collectors: their CPU s per 100k events", _per_100k(collectors_cpu, "all"), None, None),
        ("ClickHouse collector peak RSS sampled (MB)", max(one["peak_rss_mb"], two["peak_rss_mb"]), None, None),
        # ClickHouse's advice: at least 1,000 rows an insert (or async inserts); one insert per group commit.
        ("ClickHouse rows per insert, 1 collector", one["per_write"], 1000, one["per_write"] / 1000),
        ("ClickHouse rows per insert, 2 collectors", two["per_write"], 1000, two["per_write"] / 1000),
    ]
    return rows, f"ClickHouse 1 collector {one['statuses']}, 2 collectors {two['statuses']}"


#: The issue's target for the ClickHouse path: at least this share of the DuckDB path's events/s.
TARGET_CLICKHOUSE_SHARE = 0.8


def share_of_duckdb(rows: list[Row]) -> list[Row]:
    """ClickHouse's sustained events/s (1 collector) over DuckDB's, when both ran."""
    by_name = {name: value for name, value, _, _ in rows}
    duckdb_rate = by_name.get("sustained events/s (durable 200s)")
    clickhouse_rate = by_name.get("ClickHouse (chDB front), 1 collector, ev/s")
    if not duckdb_rate or clickhouse_rate is None:
        return []
    share = clickhouse_rate / duckdb_rate
    label = f"ClickHouse 1 collector / DuckDB (target {TARGET_CLICKHOUSE_SHARE:g})"  # the target column is whole
    return [(label, share, None, share / TARGET_CLICKHOUSE_SHARE)]
