"""The soak command really runs (for ~15 s, not 10 minutes), so it cannot rot unnoticed: a real collector and the
demo fleet, nothing lost, every tracked event accounted for, RSS sampled for both processes. Memory growth is
only judged by the full run (`python -m benchmarks.soak`); 15 s is all warm-up."""

from __future__ import annotations

import re
import subprocess
import sys

from benchmarks.sdk.runner import REPO


def test_a_short_soak_stores_every_sent_event_and_samples_both_processes() -> None:
    command = [sys.executable, "-m", "benchmarks.soak", "--minutes", "0.25", "--rate", "100", "--sample", "2",
               "--max-growth-mb", "1000"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    counts = re.search(r"events tracked: ([\d,]+)\s+sent \(acknowledged\): ([\d,]+)\s+stored: ([\d,]+)", out)
    assert counts, out
    tracked, sent, stored = (int(g.replace(",", "")) for g in counts.groups())
    assert tracked >= 1_000, out  # ~15 s at 100 events/s from the steady install alone
    assert sent == stored == tracked, out  # a healthy collector: nothing dropped, nothing lost
    assert "lost (sent, not stored): 0 " in out
    assert "unaccounted (tracked - sent - dropped - still queued): 0" in out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| c") or
            line.startswith("| f")}
    assert set(rows) == {"collector", "fleet"}, out
    for line in rows.values():
        samples, first = (float(c) for c in line.split("|")[2:4])
        assert samples >= 3 and first > 10, line  # real processes, really sampled
