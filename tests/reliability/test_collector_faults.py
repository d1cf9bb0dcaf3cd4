"""Collector faults (issue 8), against a real `blindai-telemetry serve --db FILE` process on 127.0.0.1: the disk
fills up, the file is owned by another process, slow clients hold connections, a burst far beyond what the store
sustains. In every case: no 500, a 503/429 with Retry-After where the sender should come back, nothing
acknowledged is lost, no refused batch is partly stored, and the collector keeps serving.

Also covered elsewhere: kill -9 under load (tests/collector/test_kill9.py), a store error mapped to 503 in-process
(tests/collector/test_writer.py), hostile bodies (tests/reliability/test_hostile_corpus.py).
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import httpx

from reliability.fault_support import Answers, new_batch, start_serve, stored_ids

#: The "disk": a file-size limit (RLIMIT_FSIZE) put on the running collector. DuckDB's write of the WAL or of a
#: checkpoint past it fails with EFBIG (CPython ignores SIGXFSZ), as it would with ENOSPC on a full disk.
DISK_BYTES = 6 << 20


def test_a_full_disk_answers_503_loses_nothing_acknowledged_and_recovers_once_freed(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    served = start_serve(tmp_path / "run", "--db", str(db), "--log-level", "warning", "--retention-days", "0")
    answers = Answers()
    try:
        resource.prlimit(served.process.pid, resource.RLIMIT_FSIZE, (DISK_BYTES, resource.RLIM_INFINITY))
        with httpx.Client(base_url=served.url, timeout=30) as http:
            # One sender, batch after batch: the writer is idle between them, so it checkpoints the WAL into the
            # file as it would in production, and the disk fills during a checkpoint as well as during a commit.
            for i in range(800):
                answers.post(http, new_batch(200, f"install-{i % 40}"))
                if answers.statuses[503] >= 20:
                    break
            assert answers.statuses[503] >= 20, f"the disk never filled: {answers.statuses}"
            assert http.get("/healthz").status_code == 200  # still up, still answering
            # Nothing of a refused batch was stored: the count is exactly the acknowledged events.
            summary = http.get("/api/v1/summary")  # (reads failed too while DuckDB was invalidated)
            assert summary.status_code == 200, summary.text
            assert summary.json()["events"] == len(answers.acked)

            resource.prlimit(served.process.pid, resource.RLIMIT_FSIZE,
                             (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # room again
            # The senders retry (SDKs do, after Retry-After): every refused batch now goes in, without a restart.
            retried = Answers()
            for events in answers.refused:
                assert retried.post(http, events) == 200, retried.violations
            after = [answers.post(http, new_batch(200, "install-after")) for _ in range(5)]
            assert after == [200] * 5
    finally:
        assert served.stop() == 0
    log = (tmp_path / "run" / "stderr.log").read_text()
    assert answers.violations == [], answers.violations  # only 200 or 503 with Retry-After, never a 500
    assert "Traceback" not in log
    # The disk filled during a checkpoint at least once: DuckDB then invalidates the database, and the store
    # reopens it (the bug: before, every later batch got 503 until the collector was restarted).
    assert "DuckDB invalidated" in log and "reopened" in log, "the run never hit a failed checkpoint"

    stored = stored_ids(db)
    assert len(stored) == len(set(stored)), "an event was stored twice"
    missing = set(answers.acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost"
    for events in answers.refused:  # refused, then retried and acknowledged: whole, once
        assert {str(e["event_id"]) for e in events} <= set(stored)
    print(f"\ndisk full: {answers.statuses[200]} batches acknowledged, {answers.statuses[503]} refused with 503 "
          f"+ Retry-After and re-sent after the disk was freed; {len(stored):,} events stored, 0 lost")


_HOLD_FILE = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
"""


def test_serve_on_a_file_another_process_owns_exits_with_a_clear_message(tmp_path: Path) -> None:
    """DuckDB locks its file for one process: a second collector on it must say so and exit, not crash."""
    db = tmp_path / "owned.duckdb"
    with subprocess.Popen([sys.executable, "-c", _HOLD_FILE, str(db)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "ready"
            done = subprocess.run([str(Path(sys.executable).with_name("blindai-telemetry")), "serve", "--port", "0",
                                   "--db", str(db)], capture_output=True, text=True, timeout=60, check=False)
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot open the store" in done.stderr and "owned by one process" in done.stderr, done.stderr
