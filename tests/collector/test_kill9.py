"""Durable acknowledgement: `kill -9` under load loses no acknowledged event, and a restart replays cleanly."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
from collector_helpers import batch, event, start_serve

from blindai_telemetry.stores import DuckDBStore


def test_every_acknowledged_event_survives_kill_9_mid_load(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    served = start_serve(tmp_path / "first", "--db", db, "--log-level", "warning")
    acked: list[str] = []
    sent_unacked: list[dict[str, object]] = []
    done = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            for i in range(10_000):  # bounded; ends when the collector is gone
                events = [event(install_id=f"install-{worker}-{i % 5}") for _ in range(100)]
                try:
                    r = http.post("/v1/batch", json=batch(*events))
                except httpx.HTTPError:
                    sent_unacked.extend(events)  # in flight when killed: maybe stored, maybe not
                    break
                if r.status_code == 200:
                    acked.extend(str(e["event_id"]) for e in events)
        done.set()

    loaders = [threading.Thread(target=load, args=(w,)) for w in range(3)]
    for t in loaders:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 3_000:
        assert time.monotonic() < deadline, "the load did not start"
        time.sleep(0.01)
    served.process.send_signal(signal.SIGKILL)  # no shutdown, no checkpoint, mid-write
    assert served.process.wait(30) == -signal.SIGKILL
    for t in loaders:
        t.join(30)
    assert acked, "nothing was acknowledged"

    # Restart on the same file: the WAL is replayed; every acknowledged event is there, each once.
    again = start_serve(tmp_path / "second", "--db", db, "--log-level", "warning")
    try:
        with httpx.Client(base_url=again.url, timeout=30) as http:
            # Senders retry what was in flight: deduplicated, not counted twice.
            if sent_unacked:
                assert http.post("/v1/batch", json=batch(*sent_unacked[:100])).status_code == 200
            events_now = http.get("/api/v1/summary").json()["events"]
    finally:
        assert again.stop() == 0
    store = DuckDBStore(db)
    try:
        stored = [r["event_id"] for r in store.fetch("SELECT event_id FROM events")]
    finally:
        store.close()
    assert len(stored) == len(set(stored)) == events_now
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged events lost"
