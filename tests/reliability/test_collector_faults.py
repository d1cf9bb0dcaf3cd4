"""Collector faults (issue 8), against a real `blindai-telemetry serve --db FILE` process on 127.0.0.1: the disk
fills up, the file is owned by another process, slow clients hold connections, a burst far beyond what the store
sustains. In every case: no 500, a 503/429 with Retry-After where the sender should come back, nothing
acknowledged is lost, no refused batch is partly stored, and the collector keeps serving.

Also covered elsewhere: kill -9 under load (tests/collector/test_kill9.py), a store error mapped to 503 in-process
(tests/collector/test_writer.py), hostile bodies (tests/reliability/test_hostile_corpus.py).
"""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from reliability.fault_support import (
    Answers,
    SlowClients,
    encoded_batch,
    new_batch,
    rss_mb,
    start_serve,
    start_throttled,
    stored_ids,
)

#: The "disk": a file-size limit (RLIMIT_FSIZE) put on the running collector. DuckDB's write of the WAL or of a
#: checkpoint past it fails with EFBIG (CPython ignores SIGXFSZ), as it would with ENOSPC on a full disk. Above the
#: store's idle checkpoint threshold (16 MB of WAL), so that the file fills during a checkpoint too, not only the WAL.
DISK_BYTES = 20 << 20


def test_a_full_disk_answers_503_loses_nothing_acknowledged_and_recovers_once_freed(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    served = start_serve(tmp_path / "run", "--db", str(db), "--log-level", "warning", "--retention-days", "0")
    answers = Answers()
    try:
        resource.prlimit(served.process.pid, resource.RLIMIT_FSIZE, (DISK_BYTES, resource.RLIM_INFINITY))
        with httpx.Client(base_url=served.url, timeout=30) as http:
            # One sender, batch after batch: the writer is idle between them, so it checkpoints the WAL into the
            # file as it would in production, and the disk fills during a checkpoint as well as during a commit.
            # Batches of 500: since the deduplication keys have no index, 2,000 batches of 200 fit in 20 MB.
            for i in range(2_000):
                answers.post(http, new_batch(500, f"install-{i % 40}"))
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


def test_serve_on_a_file_another_process_owns_exits_with_a_clear_message(
        tmp_path: Path, duckdb_held_elsewhere: Callable[[Path], AbstractContextManager[None]]) -> None:
    """DuckDB locks its file for one process: a second collector on it must say so and exit, not crash."""
    db = tmp_path / "owned.duckdb"
    with duckdb_held_elsewhere(db):
        done = subprocess.run([str(Path(sys.executable).with_name("blindai-telemetry")), "serve", "--port", "0",
                               "--db", str(db)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot open the store" in done.stderr and "owned by one process" in done.stderr, done.stderr


HEADER_TIMEOUT, BODY_TIMEOUT = 2, 3
SLOW_PER_KIND = 50  # x4 kinds: 200 slow connections
#: Generous bounds for a loaded shared machine: the deadlines above plus plenty.
PROMPT, CUT_OFF = 10.0, 20.0


def test_slow_clients_do_not_delay_a_normal_batch_and_are_cut_off(tmp_path: Path) -> None:
    """Slowloris: 200 connections that never finish a request (idle, trickling headers, trickling a body, or
    trickling a second request on a kept-alive connection) neither stop a normal sender's batch nor stay open."""
    served = start_serve(tmp_path / "run", "--db", str(tmp_path / "t.duckdb"), "--log-level", "warning",
                         "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT))
    slow = SlowClients(served.url, SLOW_PER_KIND)
    try:
        slow.tick()
        assert slow.open_count == 4 * SLOW_PER_KIND
        trickle = threading.Thread(target=slow.run, args=(CUT_OFF,))
        trickle.start()
        try:
            answers = Answers()
            started = time.monotonic()
            with httpx.Client(base_url=served.url, timeout=PROMPT) as http:
                assert answers.post(http, new_batch(100, "install-normal")) == 200
                took = time.monotonic() - started
                assert took < PROMPT
        finally:
            trickle.join(CUT_OFF + 10)
        still_open = slow.open_count
        with httpx.Client(base_url=served.url, timeout=PROMPT) as http:
            assert http.get("/healthz").status_code == 200
    finally:
        slow.close()
        assert served.stop() == 0
    assert still_open == 0, f"{still_open} slow connections still open after {CUT_OFF} s"
    # A late body is answered 408 (and the connection closed); headers never finished get no answer at all.
    # (Not all: a byte arriving just as the server closes makes its kernel reset the connection, and a reset can
    # discard the answer on our side before it is read.)
    late_bodies = [a for a in slow.answers.values() if a.startswith(b"HTTP/1.1 408")]
    assert len(late_bodies) >= SLOW_PER_KIND // 2, f"only {len(late_bodies)} late bodies were answered 408"
    slowest = {kind: max(after) for kind, after in slow.closed_after.items()}
    assert slowest["idle"] >= HEADER_TIMEOUT * 0.9 and slowest["body"] >= BODY_TIMEOUT * 0.9  # not cut too soon
    print(f"\nslow clients: {4 * SLOW_PER_KIND} open, a normal batch answered 200 in {took:.2f} s; closed by the "
          "server after (s, max): " + ", ".join(f"{k} {v:.1f}" for k, v in slowest.items()))


def test_a_client_that_disconnects_mid_body_leaves_no_traceback(tmp_path: Path) -> None:
    served = start_serve(tmp_path / "run", "--db", str(tmp_path / "t.duckdb"), "--log-level", "info")
    try:
        for _ in range(3):
            with socket.create_connection(urllib.parse.urlsplit(served.url).netloc.split(":"), timeout=10) as sock:
                sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: c\r\nContent-Length: 5000\r\n\r\n{\"events\": [")
                time.sleep(0.2)  # the collector is reading the body when the client goes away
        with httpx.Client(base_url=served.url, timeout=PROMPT) as http:
            assert Answers().post(http, new_batch(10, "install-after")) == 200
    finally:
        assert served.stop() == 0
    log = (tmp_path / "run" / "stderr.log").read_text()
    assert "Traceback" not in log and "ClientDisconnect" not in log, log[-3000:]


#: The store commits at most this many events/s; the burst offers at least BURST_FACTOR times as much.
STORE_RATE, BURST_FACTOR, BURST_SECONDS = 500, 10, 8.0
#: Two batches: the loaders (each waiting for its answer) hold more than that in flight, so it fills.
BUFFER_EVENTS = 1_000
RSS_BOUND_MB = 1_500


@pytest.mark.slow
def test_a_burst_of_ten_times_what_the_store_sustains_gets_backpressure_not_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    served = start_throttled(tmp_path / "run", STORE_RATE, "--db", str(db), "--log-level", "warning",
                             "--max-pending-events", str(BUFFER_EVENTS))
    acked: list[str] = []
    refused: list[list[str]] = []
    statuses: Counter[int] = Counter()
    violations: list[str] = []
    offered = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            i = 0
            while not stop.is_set():
                ids, body = encoded_batch(500, f"install-{worker}-{i % 20}")
                r = http.post("/v1/batch", content=body, headers={"Content-Type": "application/json"})
                i += 1
                with lock:
                    offered[0] += len(ids)
                    statuses[r.status_code] += 1
                    if r.status_code == 200:
                        acked.extend(ids)
                    else:
                        refused.append(ids)
                        if r.status_code not in (429, 503) or not r.headers.get("retry-after", "").isdigit():
                            violations.append(f"{r.status_code} {r.headers.get('retry-after')!r} {r.text[:200]}")

    rss = [rss_mb(served.process.pid)]
    loaders = [threading.Thread(target=load, args=(w,)) for w in range(6)]
    started = time.monotonic()
    try:
        for t in loaders:
            t.start()
        while time.monotonic() - started < BURST_SECONDS:
            rss.append(rss_mb(served.process.pid))
            time.sleep(0.2)  # sampling period
        stop.set()
        for t in loaders:
            t.join(60)
        elapsed = time.monotonic() - started
        with httpx.Client(base_url=served.url, timeout=PROMPT) as http:
            assert http.get("/healthz").status_code == 200
            assert Answers().post(http, new_batch(10, "install-after")) in (200, 503)
    finally:
        assert served.stop() == 0
    assert violations == [], violations[:5]
    assert statuses[503] > 0, f"the buffer never filled: {statuses}"
    offered_rate, accepted_rate = offered[0] / elapsed, len(acked) / elapsed
    assert offered_rate >= BURST_FACTOR * STORE_RATE, f"only {offered_rate:,.0f} events/s offered"
    assert max(rss) < RSS_BOUND_MB
    stored = stored_ids(db)
    assert len(stored) == len(set(stored)), "an event was stored twice"
    stored_set = set(stored)
    assert not set(acked) - stored_set, "acknowledged events lost"
    partial = [ids for ids in refused if stored_set.intersection(ids)]
    assert not partial, f"{len(partial)} refused batches (partly) stored"
    print(f"\nburst: {offered_rate:,.0f} events/s offered for {elapsed:.1f} s to a store committing "
          f"{STORE_RATE:,}/s ({offered_rate / STORE_RATE:.0f}x); accepted {accepted_rate:,.0f}/s; answers "
          f"{dict(statuses)}; collector RSS {rss[0]:.0f} -> max {max(rss):.0f} MB; {len(stored):,} stored, 0 lost")
