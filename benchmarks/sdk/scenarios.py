"""The five measurements, each run for every SDK in fresh child processes against the shared local sink."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from . import sdks
from .runner import ChildRun, run_child
from .sink import BlackHole, Sink, closed_port_url


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is. `full` is the issue's figures; `quick` and `tiny` trade precision for time."""

    hot_calls_ours: int
    hot_calls_peers: int
    memory_events_ours: int
    memory_events_peers: int
    delivery_rate: int
    delivery_seconds: float
    burst_events: int
    burst_delay: float  # the slow sink's answer time during the burst
    exit_events: int
    exit_kill: float  # a process still alive this long after its work ended is killed
    exit_slow_delay: float
    settle: float  # longest wait for a flush and for the sink to stop receiving
    limit: float  # hard limit on any other child process
    cpu_events: int = 50_000  # events of the CPU-per-event measurement (the 50,000)


PRESETS = {
    # Peers are slow (tens of µs a call): fewer hot-path calls give them a stable median within a sane run
    # time; their queues are bounded (10-20k), so 250k events show any leak as surely as 1M would.
    "full": Sizes(200_000, 20_000, 1_000_000, 250_000, 5_000, 20.0, 200_000, 0.05, 1_000, 30.0, 5.0, 30.0, 300.0),
    "quick": Sizes(50_000, 5_000, 1_000_000, 50_000, 5_000, 5.0, 50_000, 0.05, 1_000, 10.0, 5.0, 15.0, 150.0, 20_000),
    "tiny": Sizes(2_000, 300, 5_000, 2_000, 500, 1.0, 3_000, 0.02, 100, 6.0, 3.0, 6.0, 60.0, 2_000),
}

EXIT_ENDPOINTS = ("up", "down", "slow", "black-holed")


def _ok(run: ChildRun, what: str) -> dict[str, Any]:
    if run.result is None:
        state = "killed" if run.killed else f"exit code {run.returncode}"
        return {"error": f"{what}: no result ({state}): {run.stderr_tail.strip()[-400:]}"}
    return run.result


def hotpath(names: list[str], sizes: Sizes) -> dict[str, dict[str, Any]]:
    """Measurement 1: per-call cost of track/capture on the caller's thread, the sink healthy."""
    results = {}
    with Sink() as sink:
        for name in names:
            calls = sizes.hot_calls_ours if name in (sdks.OURS, sdks.FLOOR) else sizes.hot_calls_peers
            run = run_child("hotpath", name, sink.url, ["--n", str(calls), "--warmup", str(min(calls, 2_000))],
                            sizes.limit)
            results[name] = _ok(run, "hotpath")
    return results


def memory(names: list[str], sizes: Sizes) -> dict[str, dict[str, Any]]:
    """Measurement 2: RSS growth over many events with the collector down (connection refused)."""
    url = closed_port_url()
    results = {}
    for name in names:
        events = sizes.memory_events_ours if name in (sdks.OURS, sdks.FLOOR) else sizes.memory_events_peers
        results[name] = _ok(run_child("memory", name, url, ["--n", str(events)], sizes.limit), "memory")
    return results


def _settle(sink: Sink, name: str, expected: int, timeout: float) -> int:
    """Wait until `expected` events of `name` arrived, or until arrivals stop for a second; the count."""
    deadline = time.monotonic() + timeout
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = sink.received(name)
        if now >= expected:
            return now
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            break
        time.sleep(0.05)
    return sink.received(name)


def delivery(names: list[str], sizes: Sizes) -> dict[str, dict[str, Any]]:
    """Measurement 3: a steady rate to a healthy sink; what arrived against what was sent."""
    results = {}
    for name in names:
        with Sink() as sink:
            options = ["--rate", str(sizes.delivery_rate), "--duration", str(sizes.delivery_seconds),
                       "--settle", str(sizes.settle)]

            def settle(result: dict[str, Any], sink: Sink = sink, name: str = name) -> None:
                result["received"] = _settle(sink, name, result["sent"], sizes.settle)
                result["lost"] = result["sent"] - result["received"]

            run = run_child("delivery", name, sink.url, options, sizes.limit + sizes.settle, on_result=settle)
            results[name] = _ok(run, "delivery")
    return results


def burst(names: list[str], sizes: Sizes) -> dict[str, dict[str, Any]]:
    """Measurement 4: far more events than the queue holds, at a slow sink; every loss must be a counted drop."""
    results = {}
    for name in names:
        with Sink(delay=sizes.burst_delay) as sink:
            options = ["--n", str(sizes.burst_events), "--settle", str(sizes.settle)]

            def settle(result: dict[str, Any], sink: Sink = sink, name: str = name) -> None:
                result["received"] = _settle(sink, name, result["sent"], sizes.settle)
                result["reported_drops"] = sink.reported_drops[name]
                result["lost"] = result["sent"] - result["received"]
                result["silent"] = result["lost"] - (result.get("counted_drops") or 0)

            run = run_child("burst", name, sink.url, options, sizes.limit + 2 * sizes.settle, on_result=settle)
            results[name] = _ok(run, "burst")
    return results


@contextlib.contextmanager
def _endpoint(kind: str, slow_delay: float) -> Iterator[str]:
    if kind == "up":
        with Sink() as sink:
            yield sink.url
    elif kind == "slow":
        with Sink(delay=slow_delay) as sink:
            yield sink.url
    elif kind == "black-holed":
        with BlackHole() as hole:
            yield hole.url
    else:
        yield closed_port_url()


def exits(names: list[str], sizes: Sizes, workers: int = 6) -> dict[str, dict[str, Any]]:
    """Measurement 5: seconds from the end of the work to the end of the process, per endpoint state.

    Two ways to end: returning from main (the SDK's atexit handling) and calling the SDK's shutdown first.
    The runs mostly wait on sockets, so they go a few at a time; each is killed `exit_kill` s after its work
    ended. Ours run first, on their own, so that the peers' imports (seconds of CPU) do not slow our exits
    on a 2-core machine; the peers' own runs mostly idle on sockets and are not disturbed by ours.
    """
    results: dict[str, dict[str, Any]] = {name: {} for name in names}
    with contextlib.ExitStack() as stack:
        urls = {kind: stack.enter_context(_endpoint(kind, sizes.exit_slow_delay)) for kind in EXIT_ENDPOINTS}
        groups = [[name for name in names if name == sdks.OURS], [name for name in names if name != sdks.OURS]]
        for group in groups:
            jobs: list[tuple[str, str, Callable[[], ChildRun]]] = []
            for name in group:
                for kind in EXIT_ENDPOINTS:
                    for how in ("return", "shutdown"):
                        options = ["--n", str(sizes.exit_events)] + (["--explicit"] if how == "shutdown" else [])

                        def job(name: str = name, kind: str = kind, options: list[str] = options) -> ChildRun:
                            # The overall limit leaves room for imports, which take seconds on a loaded machine.
                            return run_child("exit", name, urls[kind], options, sizes.exit_kill + 60.0,
                                             after_done=sizes.exit_kill)

                        jobs.append((name, f"{kind}/{how}", job))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [(name, key, pool.submit(job)) for name, key, job in jobs]
                for name, key, future in futures:
                    run = future.result()
                    results[name][key] = {"seconds": run.exit_seconds, "killed": run.killed,
                                          "returncode": run.returncode}
    return results
