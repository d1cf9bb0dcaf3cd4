"""`python -m benchmarks.soak [--minutes 10] [--rate 200]`: the demo fleet against a real collector for minutes.

The collector is a real `blindai-telemetry serve --db` process on 127.0.0.1; the fleet (the demo's reference
servers and clients, plus one install tracking `model_run` at `--rate` events/s) runs in a second process. The
RSS (VmRSS) of both is sampled every `--sample` seconds. At the end the fleet stops (every SDK delivers what it
holds) and its SDK counters are compared with what the collector stored: events the SDKs count as sent but that
are not in the store are lost. Exit status 1 when any is lost, when an event is unaccounted for (tracked but
neither sent, dropped and counted, nor still queued), or when a process's RSS grew by more than `--max-growth-mb`
after the warm-up. See README.md for a 10-minute run's figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.ingest.run import _rss_kb, _start_collector, _stop

REPO = Path(__file__).resolve().parents[2]


def _slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute (0 with fewer than two samples)."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    return 60 * sum((t - mean_t) * (m - mean_m) for t, m in samples) / var


def _rss_mb(pid: int) -> float | None:
    try:
        return _rss_kb(pid, "VmRSS") / 1024
    except OSError:  # the process has ended
        return None


def _stored(url: str) -> int:
    with urllib.request.urlopen(url + "/api/v1/summary", timeout=30) as answer:
        return int(json.load(answer)["events"])


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    collector, url = _start_collector(workdir / "collector", ["--db", str(workdir / "soak.duckdb")])
    fleet_out = (workdir / "fleet.json").open("w")
    fleet_err = (workdir / "fleet.log").open("w")
    seconds = args.minutes * 60
    started = time.monotonic()
    fleet = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.soak.fleet", url, str(workdir / "fleet"), str(seconds), str(args.rate),
         str(args.servers), str(args.clients)], cwd=REPO, stdout=fleet_out, stderr=fleet_err)
    fleet_out.close()
    fleet_err.close()
    pids = {"collector": collector.pid, "fleet": fleet.pid}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
    try:
        while fleet.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):  # first sample after a period: the fleet runs
                fleet.wait(args.sample)
            elapsed = time.monotonic() - started
            if elapsed <= seconds:  # the fleet's own shutdown at the end is not steady state
                for name, pid in pids.items():
                    rss = _rss_mb(pid)
                    if rss:  # None once ended
                        samples[name].append((elapsed, rss))
        stored = _stored(url)
    finally:
        if fleet.poll() is None:
            fleet.kill()
            fleet.wait()
        _stop(collector)
    if fleet.returncode != 0:
        raise SystemExit("the fleet failed:\n" + (workdir / "fleet.log").read_text()[-4000:])
    sdk = json.loads((workdir / "fleet.json").read_text().strip().splitlines()[-1])
    return {"seconds": time.monotonic() - started, "sdk": sdk, "stored": stored, "samples": samples}


def report(args: argparse.Namespace, result: dict[str, Any]) -> int:
    sdk, stored = result["sdk"], result["stored"]
    dropped = sum(sdk["dropped"].values())
    lost = max(0, sdk["sent"] - stored)
    unaccounted = sdk["enqueued"] - sdk["sent"] - dropped - sdk["queued"]
    print(f"duration: {result['seconds']:.0f} s ({args.minutes:g} min of traffic, then the fleet's shutdown)")
    print(f"installs: {sdk['installs']}; requests made by the fleet's clients: {sum(sdk['requests'].values()):,}")
    print(f"events tracked: {sdk['enqueued']:,}  sent (acknowledged): {sdk['sent']:,}  stored: {stored:,}")
    print(f"lost (sent, not stored): {lost:,}  dropped and counted: {dropped:,} {sdk['dropped'] or ''}")
    print(f"unaccounted (tracked - sent - dropped - still queued): {unaccounted:,}")
    warmup = min(60.0, 0.25 * args.minutes * 60)
    failed = lost > 0 or unaccounted != 0
    print(f"RSS (MB), sampled every {args.sample:g} s; growth and slope after a {warmup:.0f} s warm-up:")
    print("| process | samples | first | last | max | growth | slope MB/min |")
    print("|---|---|---|---|---|---|---|")
    for name, samples in result["samples"].items():
        if not samples:
            continue
        steady = [s for s in samples if s[0] >= warmup] or samples
        values = [m for _, m in samples]
        growth = max(m for _, m in steady) - steady[0][1]
        print(f"| {name} | {len(samples)} | {values[0]:.1f} | {values[-1]:.1f} | {max(values):.1f} | "
              f"{growth:+.1f} | {_slope_mb_per_min(steady):+.2f} |")
        if growth > args.max_growth_mb:
            print(f"FAIL: {name} grew by {growth:.1f} MB after the warm-up (bound {args.max_growth_mb:g} MB)")
            failed = True
    print("FAIL" if failed else "OK: nothing lost, memory bounded")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of traffic (default 10)")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="events/s of the steady install, on top of the fleet's own traffic (default 200)")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    parser.add_argument("--servers", type=int, default=3, help="reference servers (default 3)")
    parser.add_argument("--clients", type=int, default=4, help="clients driving them (default 4)")
    parser.add_argument("--max-growth-mb", type=float, default=64.0,
                        help="fail when a process's RSS grows more than this after the warm-up (default 64)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blindai-soak-") as tmp:
        result = soak(args, Path(tmp))
    sys.exit(report(args, result))


if __name__ == "__main__":
    main()
