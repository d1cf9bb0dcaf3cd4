"""`python -m benchmarks.faults [--quick]`: the SDK fault matrix of issue 8, measured, one row per fault.

Each fault runs in a fresh process (so that RSS and threads start clean): a steady host tracks `model_run` events
at 5,000/s while the fault holds, beyond the queue bound, then the fault heals and everything left must arrive.
Printed per fault: events tracked, delivered (distinct event ids the endpoint stored), dropped and counted by
the SDK, lost without a count (must be 0), duplicates the endpoint had to drop, `track()` p50/p99 while the
fault held, seconds from the last `track()` to exit for a process that tracked 1,000 events (default
`shutdown_timeout`, 1 s), and RSS growth over the run. The healthy row is the reference. See matrix.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.faults.matrix import BASELINE, FAULTS, ExitProbe, Result, run_fault

REPO = Path(__file__).resolve().parents[2]
SIZES = {  # events tracked at RATE/s, the SDK's queue bound, seconds the fault holds after the last event
    "full": {"events": 20_000, "queue": 10_000, "hold": 2.0},
    "quick": {"events": 3_000, "queue": 1_000, "hold": 0.5},
}
RATE = 5_000.0


def run_one(name: str, size: str) -> Result:
    fault = next(f for f in (BASELINE, *FAULTS) if f.name == name)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        workdir = Path(tmp)
        probe = ExitProbe(fault, workdir)
        exit_s = probe.seconds()  # first, alone: the exit time is not disturbed by this process's own run
        result = run_fault(fault, workdir, rate=RATE, **SIZES[size])  # type: ignore[arg-type]
    result.exit_s = exit_s
    return result


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BLINDAI_", "DO_NOT_TRACK")) and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY",
                                                                                   "ALL_PROXY")}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "CI": "1"})  # CI: no first-run notice on stderr
    return env


def table(results: list[Result]) -> str:
    head = ("| fault | tracked | delivered | kept for the next start | dropped, counted | lost, uncounted | "
            "duplicates | track() p50 µs | track() p99 µs | exit s | RSS growth MB |")
    rows = [head, "|" + "---|" * 11]
    for r in results:
        dropped = sum(r.dropped.values())
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(r.dropped.items()))
        exit_s = "killed" if r.exit_s is None or r.exit_s == float("inf") else f"{r.exit_s:.2f}"
        rows.append(f"| {r.fault} | {r.tracked:,} | {r.delivered:,} | {r.kept:,} | {dropped:,}{f' ({reasons})' if reasons else ''} "
                    f"| {r.lost_uncounted:,} | {r.duplicates:,} | {r.track_p50_us:.2f} | {r.track_p99_us:.2f} "
                    f"| {exit_s} | {r.rss_growth_mb:+.1f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few seconds: fewer events, shorter holds")
    parser.add_argument("--only", default="", help="comma-separated fault names (default: all)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child: run one fault, print its result as JSON
    args = parser.parse_args()
    size = "quick" if args.quick else "full"
    if args.one:
        print(json.dumps(run_one(args.one, size).to_json()))
        return
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    faults = [f for f in (BASELINE, *FAULTS) if not wanted or f.name in wanted]
    load_before = os.getloadavg()
    results = []
    for fault in faults:
        command = [sys.executable, "-m", "benchmarks.faults", "--one", fault.name] + (["--quick"] if args.quick else [])
        done = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=300,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"{fault.name}: the child failed\n{done.stderr}")
        data = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(Result(**data))
    sizes = SIZES[size]
    print(f"SDK fault matrix ({size}): {sizes['events']:,} events tracked at {RATE:,.0f}/s while the fault holds, "
          f"queue bound {sizes['queue']:,}, fault held {sizes['hold']} s more, then healed (DNS: never)")
    print(table(results))
    lost = sum(r.lost_uncounted for r in results)
    print(f"\nlost without a count: {lost} (target 0); load average before/after: "
          f"{' '.join(f'{x:.2f}' for x in load_before)} / {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
