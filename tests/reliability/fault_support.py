"""Helpers of the collector fault suite: the collector test helpers (`tests/collector/collector_helpers.py`, not a
package, hence put on sys.path) and a loader that records what every batch it sent was answered."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

_HELPERS = str(Path(__file__).resolve().parents[1] / "collector")
if _HELPERS not in sys.path:
    sys.path.insert(0, _HELPERS)

from collector_helpers import Served, batch, event, start_serve  # noqa: E402 - importable once on sys.path

__all__ = ["Answers", "Served", "batch", "event", "new_batch", "rss_mb", "start_serve", "stored_ids"]


def new_batch(size: int, install: str) -> list[dict[str, Any]]:
    """`size` valid native events with fresh ids, from `install`."""
    return [event(event_id=str(uuid.uuid4()), install_id=install) for _ in range(size)]


@dataclass
class Answers:
    """What the collector answered, batch by batch: the acknowledged event ids, the refused batches (kept whole,
    to be checked and re-sent), the statuses seen, and any refusal that broke the contract."""

    acked: list[str] = field(default_factory=list)
    refused: list[list[dict[str, Any]]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    #: Answers other than 200, or 429/503 with a Retry-After: must stay empty.
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, http: httpx.Client, events: list[dict[str, Any]]) -> int:
        """Send one batch and record the answer; returns its status."""
        r = http.post("/v1/batch", json=batch(*events))
        with self.lock:
            self.statuses[r.status_code] += 1
            if r.status_code == 200:
                self.acked.extend(str(e["event_id"]) for e in events)
            else:
                self.refused.append(events)
                if r.status_code not in (429, 503) or not r.headers.get("retry-after", "").isdigit():
                    self.violations.append(f"{r.status_code} {r.headers.get('retry-after')!r} {r.text[:200]}")
        return r.status_code


def stored_ids(db: Path) -> list[str]:
    """Every event_id in the DuckDB file (the collector must be stopped: the file has one owner)."""
    from blindai_telemetry.stores import DuckDBStore

    store = DuckDBStore(db)
    try:
        return [str(r["event_id"]) for r in store.fetch("SELECT event_id FROM events")]
    finally:
        store.close()


def rss_mb(pid: int) -> float:
    """The process's resident memory (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll `predicate` (a condition on another process, which cannot signal us) until true or the timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
