"""Ingestion benchmark: the real collector (`blindai-telemetry serve`, a DuckDB temp file) under loader processes.

Measures, in one run:
1. sustained events/s: loader processes post gzip batches of 100 native events as fast as the collector
   acknowledges them (each 200 is a durable commit), for `--duration` seconds;
2. request latency (p50/p99) at half that rate, paced;
3. the collector's memory (peak RSS sampled during the load, and the kernel's high-water mark);
4. the floor, on the same payloads in this process: gunzip + msgspec decode + append to DuckDB through Arrow
   (no HTTP, no validation, no dedup) — what any collector in Python must at least spend.
5. the same sustained load on `--store memory://`, which isolates what the DuckDB store costs;
6. with `--stores ...,clickhouse` (the default): the same loaders against `serve --store clickhouse://...`, the
   real clickhouse-connect client talking to chDB behind its HTTP front (`blindai_telemetry.testing.chdb_http`,
   a process of its own, as a server is), with one collector and then two in front of it (each phase on a fresh
   database), and the CPU time each process spent per 100k events; with DuckDB in the same run, ClickHouse's
   events/s over DuckDB's (issue 13's target: >= 0.8).
Targets (issue 3): >= 50,000 events/s sustained, p99 <= 50 ms at half rate. The loaders share the machine.
`--quick` runs every step with 1 s phases: it checks that the benchmark works (the smoke test), not speed.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from benchmarks.ingest import floor
from benchmarks.ingest.payloads import EVENTS_PER_BATCH, make_batches

TARGET_EVENTS_PER_S = 50_000
TARGET_P99_MS = 50.0
PACED_CONNECTIONS = 4
#: Batches a commit in the floor phase.
FLOOR_GROUP = 20
#: One line of the printed table: measure, value, target (or None), ratio (or None).
Row = tuple[str, float, float | None, float | None]


def _post_loop(url: str, batches: list[bytes], interval: float | None, deadline: float,
               out: list[tuple[float, int]], lock: threading.Lock, path: str = "/v1/batch") -> None:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    next_at = time.perf_counter()
    for body in batches:
        if interval is not None:
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the load (a benchmark, not a test)
            next_at += interval
        if time.perf_counter() >= deadline:
            break
        started = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        with lock:
            out.append((time.perf_counter() - started, status))
    conn.close()


def _loader(url: str, seed: int, count: int, connections: int, rate: float | None, duration: float,
            ready: Any, go: Any, results: Any, batches: list[bytes] | None = None, path: str = "/v1/batch") -> None:
    batches = batches if batches is not None else make_batches(count, seed)
    share = [batches[i::connections] for i in range(connections)]
    interval = connections * EVENTS_PER_BATCH / rate if rate else None
    ready.put(seed)
    go.wait()
    deadline = time.perf_counter() + duration
    out: list[tuple[float, int]] = []
    lock = threading.Lock()
    threads = [threading.Thread(target=_post_loop, args=(url, part, interval, deadline, out, lock, path))
               for part in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(out)


def _rss_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _phase(url: str | list[str], pid: int, loaders: int, connections: int, duration: float, rate: float | None,
           seed: int, watch: dict[str, int] | None = None) -> dict[str, Any]:
    """Run loader processes against `url` (several: the loaders are spread over them); returns events acked per
    second, latencies, the peak RSS of `pid`, and the CPU seconds each process of `watch` spent in the phase."""
    urls = [url] if isinstance(url, str) else url
    watch = watch or {}
    ctx = mp.get_context("fork")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    # Enough batches for 1.5x the target rate (unpaced) or for the asked rate (paced), split over the loaders.
    per_s = rate if rate else TARGET_EVENTS_PER_S * 1.5
    count = int(per_s * duration / EVENTS_PER_BATCH / loaders) + connections
    procs = [ctx.Process(target=_loader, args=(urls[i % len(urls)], seed + i, count, connections,
                                               rate / loaders if rate else None, duration, ready, go, results))
             for i in range(loaders)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    peak_rss = 0
    cpu_before = {name: _cpu_s(p) for name, p in watch.items()}
    started = time.perf_counter()
    go.set()
    outs: list[list[tuple[float, int]]] = []
    while len(outs) < loaders:
        peak_rss = max(peak_rss, _rss_kb(pid, "VmRSS"))
        try:
            outs.append(results.get(timeout=0.2))
        except Exception:  # queue.Empty: keep sampling the collector's memory
            continue
    elapsed = time.perf_counter() - started
    cpu = {name: _cpu_s(p) - cpu_before[name] for name, p in watch.items()}
    for p in procs:
        p.join(30)
    samples = [s for out in outs for s in out]
    ok = [lat for lat, status in samples if status == 200]
    statuses: dict[int, int] = {}
    for _, status in samples:
        statuses[status] = statuses.get(status, 0) + 1
    ok_sorted = sorted(ok)
    return {
        "events_per_s": len(ok) * EVENTS_PER_BATCH / elapsed,
        "requests": len(samples), "statuses": statuses,
        "p50_ms": statistics.median(ok_sorted) * 1000 if ok_sorted else float("nan"),
        "p99_ms": ok_sorted[int(len(ok_sorted) * 0.99) - 1] * 1000 if len(ok_sorted) >= 100 else float("nan"),
        "peak_rss_mb": peak_rss / 1024, "events": len(ok) * EVENTS_PER_BATCH, "cpu_s": cpu,
    }


def _start_collector(workdir: Path, store: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    binary = str(Path(sys.executable).with_name("blindai-telemetry"))
    workdir.mkdir(parents=True, exist_ok=True)
    err = (workdir / "collector.log").open("wb")
    process = subprocess.Popen(
        [binary, "serve", *store, "--port", "0", "--log-level", "warning", "--retention-days", "0"],
        stdout=subprocess.DEVNULL, stderr=err, cwd=workdir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://\S+)", (workdir / "collector.log").read_text())
        if found:
            url = found.group(1)
            try:
                conn = http.client.HTTPConnection(urllib.parse.urlsplit(url).hostname,
                                                  urllib.parse.urlsplit(url).port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return process, url
            except OSError:
                pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the collector did not start: " + (workdir / "collector.log").read_text())


def _floor(workdir: Path, duration_batches: int) -> float:
    """The floor's events/s (benchmarks/ingest/floor.py), in commits of 2,000 events."""
    batches = make_batches(duration_batches, 999)
    started = time.perf_counter()
    floor.append(workdir / "floor.duckdb", batches, FLOOR_GROUP)
    return len(batches) * EVENTS_PER_BATCH / (time.perf_counter() - started)


def _events_per_write(url: str) -> float:
    """Events stored per group commit (one store write) so far, from the collector's /metrics."""
    events, writes = events_and_writes(url)
    return events / writes if writes else float("nan")


def events_and_writes(url: str) -> tuple[float, float]:
    """Events stored and group commits (store writes) so far, from the collector's /metrics."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/metrics")
    page = conn.getresponse().read().decode()
    conn.close()

    def total(name: str) -> float:
        return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", page, re.MULTILINE))

    return total("blindai_collector_events_accepted_total"), total("blindai_collector_store_write_seconds_count")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(60)


def _duckdb(args: argparse.Namespace, workdir: Path) -> tuple[list[Row], str]:
    """The DuckDB collector: sustained, paced (latency), memory://, the floor; the rows of the table."""
    process, url = _start_collector(workdir, ["--db", str(workdir / "bench.duckdb")])
    try:
        sustained = _phase(url, process.pid, args.loaders, args.connections, args.duration, None, 1000,
                           watch={"collector": process.pid})
        half = sustained["events_per_s"] / 2
        # Paced with one loader process and few connections: more loader threads on this 2-core machine
        # measure the loader's own scheduling delays, not the collector's.
        paced = _phase(url, process.pid, 1, PACED_CONNECTIONS, args.duration, half, 2000)
        hwm_mb = _rss_kb(process.pid, "VmHWM") / 1024
        per_write = _events_per_write(url)
    finally:
        _stop(process)
    # The same collector on the shipped in-memory store: what the HTTP + validation + writer path costs.
    process, url = _start_collector(workdir, ["--store", "memory://"])
    try:
        memory = _phase(url, process.pid, args.loaders, args.connections, args.duration, None, 3000)
    finally:
        _stop(process)
    floor = _floor(workdir, int(min(sustained["events_per_s"], 60_000) * 3 / EVENTS_PER_BATCH) + 20)
    rows: list[Row] = [
        ("sustained events/s (durable 200s)", sustained["events_per_s"], TARGET_EVENTS_PER_S,
         sustained["events_per_s"] / TARGET_EVENTS_PER_S),
        ("same collector on memory:// (no DuckDB), ev/s", memory["events_per_s"], TARGET_EVENTS_PER_S,
         memory["events_per_s"] / TARGET_EVENTS_PER_S),
        ("floor events/s (decode + Arrow -> DuckDB)", floor, None, None),
        ("collector / floor", sustained["events_per_s"] / floor, None, None),
        (f"p50 request latency at {half:,.0f} ev/s (ms)", paced["p50_ms"], None, None),
        (f"p99 request latency at {half:,.0f} ev/s (ms)", paced["p99_ms"], TARGET_P99_MS,
         TARGET_P99_MS / paced["p99_ms"] if paced["p99_ms"] else None),
        ("achieved rate in the paced phase (ev/s)", paced["events_per_s"], half, paced["events_per_s"] / half),
        ("collector peak RSS sampled (MB)", max(sustained["peak_rss_mb"], paced["peak_rss_mb"]), None, None),
        ("collector RSS high-water mark (MB)", hwm_mb, None, None),
        ("DuckDB collector CPU s per 100k events", _per_100k(sustained, "collector"), None, None),
        ("DuckDB events per commit (both phases)", per_write, None, None),
    ]
    statuses = f"sustained {sustained['statuses']}, paced {paced['statuses']}, memory:// {memory['statuses']}"
    return rows, statuses


def _cpu(args: argparse.Namespace, workdir: Path) -> list[str]:
    """CPU per event against the decode calibrator (benchmarks/ingest/cpu.py), on a fresh DuckDB collector."""
    from benchmarks.ingest import cpu  # it imports this module's helpers

    process, url = _start_collector(workdir, ["--db", str(workdir / "bench.duckdb")])
    try:
        figures = cpu.run(url, process.pid, args.cpu_events, workdir)
    finally:
        _stop(process)
    return cpu.report(figures)


def _per_100k(phase: dict[str, Any], name: str) -> float:
    return phase["cpu_s"][name] * 100_000 / phase["events"] if phase["events"] else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--loaders", type=int, default=2, help="loader processes")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections per loader")
    parser.add_argument("--stores", default="cpu,duckdb,clickhouse",
                        help="comma-separated: cpu (CPU per event against the decode calibrator, on DuckDB), duckdb "
                             "(with memory:// and the floor), clickhouse [default: all three]")
    parser.add_argument("--cpu-events", type=int, default=50_000,
                        help="events per format and connection count in the cpu phases [default: 50000]")
    parser.add_argument("--quick", action="store_true", help="1 s phases: checks that it runs (smoke test)")
    args = parser.parse_args()
    stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    if not stores or set(stores) - {"cpu", "duckdb", "clickhouse"}:
        parser.error(f"--stores takes cpu, duckdb and/or clickhouse, got {args.stores!r}")
    if args.quick:
        args.duration = 1.0
        args.cpu_events = min(args.cpu_events, 2_000)

    from benchmarks.ingest import clickhouse  # it imports this module's helpers

    rows: list[Row] = []
    statuses: list[str] = []
    cpu_lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        if "cpu" in stores:
            cpu_lines = _cpu(args, Path(tmp) / "cpu")
        for name, run in (("duckdb", _duckdb), ("clickhouse", clickhouse.run)):
            if name in stores:
                more, status = run(args, Path(tmp) / name)
                rows += more
                statuses.append(status)
        rows += clickhouse.share_of_duckdb(rows)

    print(f"ingest benchmark: {os.cpu_count()} cores, {args.loaders} loader processes x {args.connections} "
          f"connections, {args.duration:g} s per phase, batches of {EVENTS_PER_BATCH} native events, gzip")
    print(f"{'measure':<44}{'value':>14}{'target':>14}{'ratio':>10}")
    for name, value, target, ratio in rows:
        target_text = f"{target:>14,.0f}" if target is not None else f"{'':>14}"
        ratio_text = f"{ratio:>10.2f}" if ratio is not None else f"{'':>10}"
        print(f"{name:<44}{value:>14,.2f}{target_text}{ratio_text}")
    paced = f"paced phase: 1 loader x {PACED_CONNECTIONS} connections; " if "duckdb" in stores else ""
    print(f"responses: {'; '.join(statuses)}; {paced}load average now {os.getloadavg()[0]:.1f}")
    print("ratio column: value / target for throughput, target / value for latency (>= 1 meets the target)")
    for line in cpu_lines:
        print(line)
