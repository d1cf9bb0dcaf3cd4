"""Collector CPU per stored event against the decode calibrator, the figure that holds on a busy machine (issue 13).

For each format (native `/v1/batch`, Amplitude `/2/httpapi`) and each connection count, one loader process sends
the same fixed set of gzip batches as fast as they are acknowledged, and the collector's CPU time over the phase
is read from `/proc/PID/stat` (user + system, every thread of the process). Divided by the events stored, it is
set beside the calibrator: this process's CPU time for gunzip + stdlib `json.loads` of the very same bodies, the
least any Python collector spends on them. Events/s on a shared machine say how busy the day is; the ratio
says what the collector costs. Beside them, the floor (`floor.py`: gunzip + msgspec + Arrow + DuckDB append, no
HTTP, no checks, no deduplication) of the very same bodies, in process CPU per event, in commits of the size the
collector made in that case (from its `/metrics`), and its ratio to the same calibrator: what a ratio target is
up against before the collector does anything of its own.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.ingest import floor
from benchmarks.ingest.payloads import EVENTS_PER_BATCH, PATHS, make_batches
from benchmarks.ingest.run import FLOOR_GROUP, _cpu_s, _loader, _rss_kb, events_and_writes

#: Targets of issue 13: collector CPU per event at most this many times the calibrator, by connection count.
TARGET_RATIO = {8: 4.0, 2: 8.0}


@dataclass(frozen=True)
class CpuFigure:
    fmt: str
    connections: int
    collector_us: float
    calibrator_us: float
    events_per_s: float
    peak_rss_mb: float
    statuses: dict[int, int]
    #: The floor of the same bodies in commits of the collector's size in this case, then of `FLOOR_GROUP` batches.
    floor: floor.FloorCpu
    floor_large: floor.FloorCpu

    @property
    def ratio(self) -> float:
        return self.collector_us / self.calibrator_us


def calibrate(batches: list[bytes]) -> float:
    """CPU µs per event for gunzip + `json.loads` of `batches` in this process (best of three passes)."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for body in batches:
            json.loads(gzip.decompress(body))
        best = min(best, time.process_time() - started)
    return best * 1e6 / (len(batches) * EVENTS_PER_BATCH)


def measure(url: str, pid: int, fmt: str, connections: int, events: int, seed: int, workdir: Path) -> CpuFigure:
    """Send `events` events in `fmt` over `connections` connections; the collector's CPU µs per stored event,
    then the floor of the same bodies in this process."""
    batches = make_batches(max(1, events // EVENTS_PER_BATCH), seed, fmt)
    calibrator = calibrate(batches)
    ctx = mp.get_context("fork")  # the loader inherits the batches: no pickling, the very same bodies
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    loader = ctx.Process(target=_loader, args=(url, seed, 0, connections, None, 3600.0, ready, go, results,
                                                batches, PATHS[fmt]))
    loader.start()
    ready.get(timeout=120)
    stored_before, writes_before = events_and_writes(url)
    cpu_before = _cpu_s(pid)
    started = time.perf_counter()
    go.set()
    peak_rss = 0
    while True:
        peak_rss = max(peak_rss, _rss_kb(pid, "VmRSS"))
        try:
            out = results.get(timeout=0.2)
            break
        except Exception:  # queue.Empty: keep sampling the collector's memory
            continue
    elapsed = time.perf_counter() - started
    cpu = _cpu_s(pid) - cpu_before
    loader.join(30)
    statuses: dict[int, int] = {}
    for _, status in out:
        statuses[status] = statuses.get(status, 0) + 1
    stored = statuses.get(200, 0) * EVENTS_PER_BATCH
    stored_after, writes_after = events_and_writes(url)
    per_commit = (stored_after - stored_before) / max(1.0, writes_after - writes_before)
    group = max(1, round(per_commit / EVENTS_PER_BATCH))
    workdir.mkdir(parents=True, exist_ok=True)
    floors = [floor.cpu(workdir / f"floor-{seed}-{g}.duckdb", batches, g, fmt) for g in (group, FLOOR_GROUP)]
    return CpuFigure(fmt, connections, cpu * 1e6 / stored if stored else float("nan"), calibrator,
                     stored / elapsed, peak_rss / 1024, statuses, *floors)


def run(url: str, pid: int, events: int, workdir: Path, connections: tuple[int, ...] = (8, 2)) -> list[CpuFigure]:
    """Every format at every connection count, on one running collector."""
    figures = []
    for i, (fmt, n) in enumerate((fmt, n) for n in connections for fmt in PATHS):
        figures.append(measure(url, pid, fmt, n, events, 7000 + i, workdir))
    return figures


def report(figures: list[CpuFigure]) -> list[str]:
    """The printed table: one line per format and connection count, with the target and whether it is met; then
    the floor of the same bodies per step, against the same calibrator."""
    lines = [f"collector CPU per stored event (/proc/PID/stat, all threads) vs calibrator (gunzip + json.loads "
             f"of the same bodies); load average {os.getloadavg()[0]:.1f}",
             f"{'format':<11}{'conns':>6}{'collector us':>14}{'calibrator us':>15}{'ratio':>8}{'target':>8}"
             f"{'events/s':>10}{'RSS MB':>8}  responses"]
    for f in figures:
        target = TARGET_RATIO.get(f.connections)
        verdict = "" if target is None else (" met" if f.ratio <= target else " MISSED")
        lines.append(f"{f.fmt:<11}{f.connections:>6}{f.collector_us:>14.1f}{f.calibrator_us:>15.2f}{f.ratio:>8.1f}"
                     f"{(f'<={target:g}' if target else ''):>8}{f.events_per_s:>10,.0f}{f.peak_rss_mb:>8.0f}"
                     f"  {f.statuses}{verdict}")
    lines += ["the floor of the same bodies (gunzip + msgspec, Arrow, DuckDB append + commit; process CPU, no HTTP, "
              "no checks, no dedup), in commits of the collector's size in that case, then of "
              f"{FLOOR_GROUP * EVENTS_PER_BATCH:,} events",
              f"{'format':<11}{'conns':>6}{'ev/commit':>10}{'decode us':>10}{'arrow us':>10}{'append us':>10}"
              f"{'floor us':>10}{'floor/calib':>12}{'collector/floor':>16}"]
    for f in figures:
        for fl in (f.floor, f.floor_large):
            lines.append(f"{f.fmt:<11}{f.connections:>6}{fl.events_per_commit:>10,}{fl.decode_us:>10.2f}"
                         f"{fl.arrow_us:>10.2f}{fl.append_us:>10.2f}{fl.total_us:>10.2f}"
                         f"{fl.total_us / f.calibrator_us:>12.1f}{f.collector_us / fl.total_us:>16.1f}")
    return lines
