"""The SDK fault matrix: each fault played against a real `Telemetry`, and what became of every event.

For one fault, `run_fault` tracks a burst of events while the fault holds (timing each `track()` call and the
process's RSS), lets the SDK retry into it, heals it when it can be healed, and then accounts for every event:
delivered (distinct `event_id`s the endpoint stored), dropped and counted by the SDK, still pending (queued or in
flight: not lost yet), or lost without being counted — which must never happen. `ExitProbe` measures, in a fresh
process, how long a program that tracked 1,000 events takes to exit while the fault holds (`shutdown_timeout`
left at its default of 1 s). `tests/reliability/test_sdk_faults.py` asserts on these results;
`python -m benchmarks.faults` prints them as a table.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.faults.endpoints import FaultyEndpoint, GarbageServer, dead_port
from blindai_telemetry import HttpTransport, Telemetry
from blindai_telemetry._spool import Spool

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")


@dataclass(frozen=True)
class Fault:
    name: str
    #: What the endpoint plays (`endpoints.MODES`).
    mode: str
    #: Whether the fault ends during the run (then every event not dropped must arrive).
    heals: bool = True
    #: The endpoint's host name does not resolve (a name under `.invalid`, RFC 2606).
    dns: bool = False
    #: HTTP(S)_PROXY points at a port that refuses ("dead") or at a server that answers garbage ("garbage").
    proxy: str | None = None
    #: The `Retry-After` of a 429, seconds.
    retry_after: int = 1


#: Not a fault: the same run against a healthy endpoint, for the benchmark's reference row.
BASELINE = Fault("none (healthy)", "healthy")
FAULTS: tuple[Fault, ...] = (
    Fault("down", "down"),
    Fault("refusing", "refusing"),
    Fault("slow", "slow"),
    Fault("trickling answer", "trickle"),
    Fault("black-holed", "blackholed"),
    Fault("500", "500"),
    Fault("429 Retry-After", "429"),
    # Throttled again and again (5 times or more opens the SDK's circuit): once healed, flush() must deliver.
    Fault("429 repeated", "429", retry_after=0),
    Fault("413", "413"),
    Fault("garbage 200", "garbage"),
    Fault("reset mid-response", "reset"),
    Fault("DNS failure", "healthy", heals=False, dns=True),
    Fault("TLS failure", "tls"),
    Fault("proxy dead", "healthy", proxy="dead"),
    Fault("proxy garbage", "healthy", proxy="garbage"),
)


@dataclass
class Result:
    fault: str
    tracked: int
    delivered: int
    duplicates: int  # arrivals of an event_id already stored (the endpoint, like the collector, dedups)
    dropped: dict[str, int]  # the SDK's own drop counters, by reason
    reported: dict[str, int]  # the drop counters the SDK reported to the endpoint in its batches
    pending: int  # queued, in flight or kept in the spool when measured: not lost (yet)
    lost_uncounted: int  # tracked - delivered - dropped - pending: must be 0
    raised: int  # exceptions that reached the host from track()/flush()/shutdown()
    healed: bool  # the fault was healed and a flush then delivered everything
    track_p50_us: float
    track_p99_us: float
    rss_growth_mb: float
    exit_s: float | None = None
    kept: int = 0  # of `pending`, the events waiting in the spool for the next process of the install
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def proxy_settings(fault: Fault, stack: contextlib.ExitStack) -> dict[str, str | None]:
    """The proxy variables of a process facing `fault` (None: unset); a garbage proxy is started in `stack`."""
    if fault.proxy is None:
        return {}
    if fault.proxy == "garbage":
        proxy_url = stack.enter_context(contextlib.closing(GarbageServer())).url
    else:
        proxy_url = f"http://127.0.0.1:{dead_port()}"
    # NO_PROXY unset, else 127.0.0.1 would bypass the proxy and the fault with it.
    return {**dict.fromkeys(NO_PROXY_VARIABLES), "HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url}


def apply(settings: dict[str, str | None], env: dict[str, str] | os._Environ[str]) -> None:
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value


@contextlib.contextmanager
def fault_environment(fault: Fault) -> Iterator[None]:
    """This process's environment faces `fault` while inside (restored after)."""
    saved = {k: os.environ.get(k) for k in (*PROXY_VARIABLES, *NO_PROXY_VARIABLES)}
    with contextlib.ExitStack() as stack:
        try:
            apply(proxy_settings(fault, stack), os.environ)
            yield
        finally:
            apply(saved, os.environ)


def heal_environment(fault: Fault) -> None:
    """Fix a proxy fault the way an operator would: the SDK reads the proxy settings on every connection."""
    if fault.proxy is not None:
        for name in PROXY_VARIABLES:
            os.environ.pop(name, None)


def endpoint_for(fault: Fault, workdir: Path) -> FaultyEndpoint:
    return FaultyEndpoint(fault.mode, retry_after=fault.retry_after, tls_dir=workdir / "tls")


def endpoint_url(fault: Fault, endpoint: FaultyEndpoint) -> str:
    return f"http://collector.faults.invalid:{endpoint.port}" if fault.dns else endpoint.url


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def run_fault(fault: Fault, workdir: Path, *, events: int = 300, queue: int = 100, hold: float = 0.3,
              rate: float | None = None, heal_timeout: float = 15.0) -> Result:
    """Play `fault` against one Telemetry in this process and account for every event it tracked: `events` as
    fast as possible, or at `rate` events/s (in 5 ms steps, the worker retrying meanwhile), then `hold` seconds
    more of the fault before it heals."""
    raised = 0
    samples: list[float] = []
    with endpoint_for(fault, workdir) as endpoint, fault_environment(fault):
        url = endpoint_url(fault, endpoint)
        transport = None
        if fault.mode == "tls":  # trusts the certificate the endpoint switches to when healed, not the first
            context = ssl.create_default_context(cafile=str(endpoint.trusted_ca))
            transport = HttpTransport(url, ssl_context=context)
        config_dir = workdir / f"config-{fault.mode}-{fault.proxy}-{fault.dns}"
        telemetry = Telemetry("blindai-server", "0.6.3", endpoint=url, transport=transport, mode="simulation",
                              flush_interval=0.05, max_queue_size=queue, config_dir=config_dir)
        before = rss_mb()
        clock = time.perf_counter_ns
        step = max(1, round((rate or 0) * 0.005))
        next_step = time.monotonic()
        for i in range(events):
            if rate and i % step == 0:  # pacing a steady host, not synchronising: the figures need real time
                next_step += 0.005
                time.sleep(max(0.0, next_step - time.monotonic()))
            started = clock()
            try:
                telemetry.track("model_run", model_name="resnet50", duration_ms=float(i), input_bytes=40, ok=True)
            except Exception:  # counting what must never happen
                raised += 1
            samples.append((clock() - started) / 1000)
        try:
            telemetry.flush(timeout=hold)  # the SDK retries into the fault meanwhile
        except Exception:  # counted: must never happen
            raised += 1
        growth = rss_mb() - before
        healed = False
        if fault.heals:
            heal_environment(fault)
            endpoint.heal()
            deadline = time.monotonic() + heal_timeout
            # Each flush() forces one attempt past the SDK's own backoff (never past a Retry-After).
            while not healed and time.monotonic() < deadline:
                try:
                    healed = telemetry.flush(timeout=1.0)
                except Exception:  # counted: must never happen
                    raised += 1
        try:
            telemetry.shutdown(timeout=0.5)
        except Exception:  # counted: must never happen
            raised += 1
        stats = telemetry.stats()  # after shutdown: what it could neither send nor keep is counted as unsent_at_exit
        delivered, duplicates = endpoint.delivered(), endpoint.duplicates()
        reported = dict(endpoint.reported_drops)
    dropped: dict[str, int] = stats["dropped"]
    pending = stats["enqueued"] - stats["handled"]
    return Result(
        fault=fault.name, tracked=events, delivered=delivered, duplicates=duplicates, dropped=dropped,
        reported=reported, pending=pending, lost_uncounted=events - delivered - sum(dropped.values()) - pending,
        raised=raised, healed=healed, track_p50_us=_percentile(samples, 0.5), track_p99_us=_percentile(samples, 0.99),
        rss_growth_mb=growth, kept=Spool(config_dir / "spool").pending_events())


EXIT_SCRIPT = textwrap.dedent("""
    import sys, time, blindai_telemetry
    t = blindai_telemetry.Telemetry("blindai-server", "0.6.3", endpoint=sys.argv[1], mode="simulation")
    for i in range(1000):
        t.track("model_run", model_name="resnet50", duration_ms=float(i), input_bytes=40, ok=True)
    print("DONE", time.monotonic(), flush=True)
""")


class ExitProbe:
    """A fresh process that tracks 1,000 events against the fault and ends (the SDK's atexit flush, bounded by
    the default `shutdown_timeout` of 1 s); `seconds()` is the time from its last `track()` to its exit."""

    def __init__(self, fault: Fault, workdir: Path) -> None:
        self._stack = contextlib.ExitStack()
        endpoint = self._stack.enter_context(endpoint_for(fault, workdir))
        env = dict(os.environ)
        apply(proxy_settings(fault, self._stack), env)
        env.update({"BLINDAI_TELEMETRY_CONFIG_DIR": str(workdir / f"exit-{fault.mode}-{fault.proxy}-{fault.dns}"),
                    "CI": "1"})  # CI: no first-run notice on stderr
        for name in ("BLINDAI_DISABLE_TELEMETRY", "DO_NOT_TRACK", "BLINDAI_TELEMETRY_DEBUG",
                     "BLINDAI_TELEMETRY_ENDPOINT"):
            env.pop(name, None)
        self._proc = subprocess.Popen([sys.executable, "-c", EXIT_SCRIPT, endpoint_url(fault, endpoint)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._done_at: float | None = None
        self._stderr = ""
        self._exited_at: float | None = None
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if line.startswith("DONE "):
            self._done_at = float(line.split()[1])
        self._proc.wait()
        self._exited_at = time.monotonic()  # CLOCK_MONOTONIC is shared by both processes

    def seconds(self, timeout: float = 60.0) -> float:
        """Seconds from the child's last track() to its exit (inf when it did not finish, or failed)."""
        self._waiter.join(timeout)
        if self._waiter.is_alive():
            self._proc.kill()
            self._waiter.join()
        self._stack.close()
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._stderr = self._proc.stderr.read()
        self._proc.stdout.close()
        self._proc.stderr.close()
        if self._done_at is None or self._exited_at is None or self._proc.returncode != 0:
            return float("inf")
        return self._exited_at - self._done_at

    def stderr(self) -> str:
        """What the child printed on stderr (after `seconds()`)."""
        return self._stderr
