"""`python -m benchmarks.sdk [--quick] [--json PATH]`: measure our SDK, the floor and the peers in one run, print the table."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from importlib import metadata
from typing import Any

from . import cpu, report, scenarios, sdks, sink

STEPS = ("hotpath", "cpu", "memory", "delivery", "burst", "exit")


_DISTRIBUTIONS = ("blindai-telemetry", "posthog", "amplitude-analytics", "segment-analytics-python",
                  "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http")


def _machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in _DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(terse=True),
            "cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg(), "versions": versions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sdk", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="preset", const="quick",
                      help="shorter run (about 3 minutes): fewer calls and a 5 s delivery test")
    size.add_argument("--tiny", action="store_const", dest="preset", const="tiny",
                      help="smoke-test sizes (seconds): checks that the benchmark runs, figures mean little")
    parser.add_argument("--json", metavar="PATH", help="also save every figure as JSON")
    parser.add_argument("--sdks", default=",".join(sdks.ALL), help=f"comma-separated subset of {','.join(sdks.ALL)}")
    parser.add_argument("--only", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    args = parser.parse_args(argv)
    preset = args.preset or "full"
    sizes = scenarios.PRESETS[preset]
    wanted = [name.strip() for name in args.sdks.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(sdks.ALL)) + sorted(set(args.only.split(",")) - set(STEPS))
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    names = []
    for name in wanted:
        why = sdks.available(name)
        if why:
            print(f"skipping {name}: {why}", file=sys.stderr)
        else:
            names.append(name)
    # The floor has no transport: it takes part in the in-process measurements only.
    senders = [name for name in names if name != sdks.FLOOR]

    machine = _machine()
    results: dict[str, Any] = {}
    started = time.monotonic()
    for step in STEPS:
        if step not in args.only.split(","):
            continue
        print(f"[{time.monotonic() - started:6.1f} s] {step} …", file=sys.stderr, flush=True)
        results[step] = _run_step(step, names, senders, sizes)
        for name, result in results[step].items():
            if "error" in result:
                print(f"  {name}: {result['error']}", file=sys.stderr)
    machine["loadavg_end"] = os.getloadavg()
    machine["seconds"] = round(time.monotonic() - started, 1)

    rows = report.build_rows(results, sizes)
    print(f"\nBlindAI Telemetry SDK vs peers — preset {preset}, Python {machine['python']}, "
          f"{machine['cpu_count']} CPUs, load average {machine['loadavg_start'][0]:.1f} → "
          f"{machine['loadavg_end'][0]:.1f}, {machine['seconds']:.0f} s")
    print(", ".join(f"{name} {version}" for name, version in machine["versions"].items() if version) + "\n")
    print(report.render(rows))
    if args.json:
        document = {"preset": preset, "sizes": dataclasses.asdict(sizes), "machine": machine, "results": results,
                    "table": [{"measurement": r.label, "target": r.target, "values": r.values,
                               "ours_over_floor": r.ours_over_floor, "best_peer_over_ours": r.peer_over_ours,
                               "verdict": r.verdict} for r in rows]}
        with open(args.json, "w", encoding="utf-8") as out:
            # inf (killed) is not JSON: store it as null with the killed flag kept in `results`.
            json.dump(_finite(document), out, indent=2)
    return 0


def _run_step(step: str, names: list[str], senders: list[str], sizes: scenarios.Sizes) -> dict[str, Any]:
    if step == "hotpath":
        return scenarios.hotpath(names, sizes)
    if step == "cpu":  # ours only, beside its floor (json.dumps + gzip 6), both measured in the child
        if sdks.OURS not in names:
            return {}
        with sink.Sink() as receiver:
            return cpu.run(receiver.url, sizes.cpu_events, sizes.limit)
    if step == "memory":
        return scenarios.memory(names, sizes)
    if step == "delivery":
        return scenarios.delivery(senders, sizes)
    if step == "burst":
        return scenarios.burst(senders, sizes)
    return scenarios.exits(senders, sizes)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value == float("inf"):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
