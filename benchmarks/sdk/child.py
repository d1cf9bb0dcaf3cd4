"""One measurement of one SDK, in a fresh process: `python -m benchmarks.sdk.child SCENARIO SDK ENDPOINT [options]`.

A fresh process per (scenario, SDK) keeps each SDK's threads, queues and retries from disturbing the next
measurement, and makes RSS and exit time meaningful. The result is one JSON line on stdout, prefixed `RESULT `.
Apart from the exit scenario (whose subject *is* how the process ends), the child then waits for the parent to
close its stdin — the parent first lets the sink see whatever the SDK is still sending — and leaves with
`os._exit`, so a peer's hanging exit cannot stall the benchmark.

Hot-path method: each call is timed on its own with `perf_counter_ns()` before and after; the same loop around
a call that does nothing (the closure call and the two clock reads) is timed first, and its median is
subtracted from every sample. Per-call samples keep the tail (p99) honest, which averaging chunks would hide.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from array import array
from collections.abc import Callable
from typing import Any

from . import cpu, sdks


def _emit(result: dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def _leave(result: dict[str, Any]) -> None:
    """Report, stay alive (the SDK's threads may still be sending) until the parent closes stdin, then go at once."""
    _emit(result)
    sys.stdin.read()
    sys.stderr.flush()
    os._exit(0)


def rss_bytes(field: str = "VmRSS") -> int:
    """Resident memory of this process from /proc/self/status (Linux), in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _time_calls(call: Callable[[], Any], n: int) -> array[int]:
    samples = array("q", bytes(8 * n))
    clock = time.perf_counter_ns
    for i in range(n):
        start = clock()
        call()
        samples[i] = clock() - start
    return samples


def _percentile(ordered: list[int], q: float) -> int:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def hotpath(subject: sdks.Subject, calls: int, warmup: int) -> dict[str, Any]:
    """Per-call time of the SDK's track/capture on the caller's thread, the clock's own overhead subtracted."""
    _time_calls(subject.call, warmup)  # imports, lazily created threads and caches are not the hot path
    overhead = int(statistics.median(_time_calls(lambda: None, min(calls, 50_000))))
    started = time.perf_counter_ns()
    samples = _time_calls(subject.call, calls)
    wall = time.perf_counter_ns() - started
    ordered = sorted(max(0, s - overhead) for s in samples)
    return {"calls": calls, "median_ns": _percentile(ordered, 0.5), "p99_ns": _percentile(ordered, 0.99),
            "max_ns": ordered[-1], "mean_ns": wall / calls - overhead, "timer_overhead_ns": overhead}


def memory(subject: sdks.Subject, events: int) -> dict[str, Any]:
    """RSS growth while `events` are tracked with the collector down (the queue bound is what is tested)."""
    for _ in range(1_000):
        subject.call()
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    for _ in range(events):
        subject.call()
    elapsed = time.perf_counter() - started
    after = rss_bytes()
    return {"events": events, "rss_before": before, "rss_after": after, "growth_bytes": after - before,
            "peak_bytes": rss_bytes("VmHWM"), "seconds": elapsed}


def delivery(subject: sdks.Subject, rate: int, duration: float, settle: float) -> dict[str, Any]:
    """Track at a steady `rate` per second for `duration` seconds, then flush (bounded by `settle`)."""
    total = int(rate * duration)
    sent = 0
    started = time.monotonic()
    while sent < total:
        due = min(total, int((time.monotonic() - started) * rate) + 1)
        while sent < due:
            subject.call()
            sent += 1
        # Pace in 5 ms steps: fine enough to be steady, coarse enough that sleeping costs little.
        time.sleep(0.005)
    paced = time.monotonic() - started
    flushed = sdks.bounded(subject.flush, settle)
    return {"sent": sent, "seconds": paced, "flushed_in_time": flushed, "counted_drops": subject.counted_drops()}


def burst(subject: sdks.Subject, events: int, settle: float) -> dict[str, Any]:
    """Track `events` as fast as possible at a slow collector, then flush (bounded by `settle`)."""
    started = time.perf_counter()
    for _ in range(events):
        subject.call()
    elapsed = time.perf_counter() - started
    flushed = sdks.bounded(subject.flush, settle)
    return {"sent": events, "seconds": elapsed, "flushed_in_time": flushed, "counted_drops": subject.counted_drops()}


def exit_after(subject: sdks.Subject, events: int, explicit: bool) -> None:
    """Track `events`, say when the work ended, optionally shut down explicitly, then return from main.

    The parent measures from the `DONE` line to the moment the process is gone; CLOCK_MONOTONIC (what
    time.monotonic reads on Linux) is shared by both processes.
    """
    for _ in range(events):
        subject.call()
    sys.stdout.write(f"DONE {time.monotonic():.6f}\n")
    sys.stdout.flush()
    if explicit:
        # The SDK's own shutdown, unbounded on purpose: whether it hangs is what is measured (ours is given
        # the documented 1 s budget).
        subject.shutdown(1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sdk.child")
    parser.add_argument("scenario", choices=("hotpath", "memory", "delivery", "burst", "exit", "cpu"))
    parser.add_argument("sdk", choices=sdks.ALL)
    parser.add_argument("endpoint")
    parser.add_argument("--n", type=int, default=1_000, help="calls or events")
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--explicit", action="store_true", help="exit scenario: call the SDK's shutdown first")
    parser.add_argument("--transport", choices=("memory", "http"), default="http", help="cpu scenario")
    args = parser.parse_args(argv)
    if args.scenario == "cpu":  # ours only: the process's CPU per event, end to end
        sdks.silence_logs()
        _leave(cpu.measure(args.endpoint, args.n, args.transport))
    # Where drops matter (delivery, burst) the peers' drop warnings are counted; elsewhere logging is off,
    # so that no SDK pays for formatting log records during a timed loop.
    logged = sdks.count_logged_drops() if args.scenario in ("delivery", "burst") else None
    if logged is None:
        sdks.silence_logs()
    subject = sdks.make(args.sdk, args.endpoint)
    if args.scenario == "exit":
        exit_after(subject, args.n, args.explicit)
        return
    if args.scenario == "hotpath":
        _leave(hotpath(subject, args.n, args.warmup))
    elif args.scenario == "memory":
        _leave(memory(subject, args.n))
    elif args.scenario == "delivery":
        _leave({**delivery(subject, args.rate, args.duration, args.settle), "logged_drops": _count(logged)})
    else:
        _leave({**burst(subject, args.n, args.settle), "logged_drops": _count(logged)})


def _count(handler: sdks.LoggedDrops | None) -> int | None:
    return None if handler is None else handler.count


if __name__ == "__main__":
    main()
