"""Regenerates the README's dashboard screenshot from the demo, so that it shows what the demo shows today.

Runs `blindai-telemetry demo` (seeded history plus a live simulated fleet) on a free port, waits until the
fleet's own events are stored, opens the dashboard in Debian's headless Chromium (no network: the page loads
only the collector's files) and saves a full-page screenshot. `--panels DIR` also saves one image per panel.

    scripts/screenshot                      # writes docs/screenshots/dashboard.png
    scripts/screenshot --out /tmp/d.png --panels /tmp/panels
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from blindai_telemetry.testing.browser import launch

ROOT = Path(__file__).resolve().parents[1]
#: Wide enough for the page's two columns of panels, as a maintainer's laptop shows it.
VIEWPORT = {"width": 1400, "height": 1000}


def start_demo(seed_days: int) -> tuple[subprocess.Popen[str], str]:
    """The demo on a free port, and its dashboard's URL (read from the line it prints)."""
    demo = subprocess.Popen(
        [sys.executable, "-c", "from blindai_telemetry.cli.main import main; main()",
         "demo", "--port", "0", "--seed-days", str(seed_days)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert demo.stdout is not None
    for line in demo.stdout:
        print(line, end="")
        if match := re.search(r"Dashboard: (\S+)", line):
            return demo, match.group(1)
    raise SystemExit(f"the demo stopped before printing its dashboard's URL (exit code {demo.wait()})")


def summary(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "api/v1/summary", timeout=30) as response:
        out: dict[str, Any] = json.load(response)
        return out


def wait_for_fleet(url: str, events: int, timeout: float) -> dict[str, Any]:
    """Polls the summary until the live fleet has stored `events` events of its own (not seeded)."""
    deadline = time.monotonic() + timeout
    while True:
        s = summary(url)
        if s["events"] - s.get("seeded", 0) >= events or time.monotonic() > deadline:
            return s
        time.sleep(1.0)  # the fleet flushes every second (DEMO_FLUSH_INTERVAL)


def shoot(url: str, out: Path, panels: Path | None) -> None:
    with launch() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        page.wait_for_selector('body[data-loads="1"]', state="attached", timeout=60_000)
        if errors:
            raise SystemExit(f"the page reported errors: {errors}")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        print(f"Saved {out}")
        if panels is not None:
            panels.mkdir(parents=True, exist_ok=True)
            for section in page.query_selector_all(".panel"):
                section.screenshot(path=str(panels / f"{section.get_attribute('data-panel')}.png"))
            print(f"Saved one image per panel in {panels}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "dashboard.png")
    parser.add_argument("--panels", type=Path, default=None, help="also save one image per panel in this directory")
    parser.add_argument("--seed-days", type=int, default=28, help="days of seeded history (the demo's default)")
    parser.add_argument("--fleet-events", type=int, default=300,
                        help="wait until the live fleet has stored this many events of its own")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for them at most")
    args = parser.parse_args()
    demo, url = start_demo(args.seed_days)
    try:
        s = wait_for_fleet(url, args.fleet_events, args.timeout)
        print(f"Stored: {s['events']:,} events ({s.get('seeded', 0):,} seeded) from {s['installs']:,} installs")
        shoot(url, args.out, args.panels)
    finally:
        demo.send_signal(signal.SIGINT)  # the demo stops its fleet and collector on Ctrl-C
        try:
            demo.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.communicate()


if __name__ == "__main__":
    main()
