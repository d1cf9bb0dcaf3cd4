"""Forwarding accepted events to Amplitude's HTTP V2 API from a durable outbox, and deletions to its Privacy API.

Why an outbox: the collector acknowledges a batch once it is stored; Amplitude may be down for hours. Events are
written to a SQLite outbox (WAL, synchronous=FULL) in the same step that stores them, and a background thread
drains it: at-least-once delivery, made exactly-once in effect by Amplitude's `insert_id` deduplication (7 days).
It survives a restart: the outbox is a file.

Amplitude's rules respected (RESEARCH.md §2): ≤ 2,000 events and ≤ 1 MB a request (413 → the batch is halved);
429 and 503 honour `Retry-After`; other 5xx and network errors back off exponentially with jitter; a 400 naming
invalid events drops those events (counted) and retries the rest. No `ip` field is ever sent: the collector never
has the user's address, and Amplitude must not attach the collector's own.

Deletions: Amplitude's User Privacy API (`POST /api/2/deletions/users`, Basic auth with the secret key, ≤ 100 ids a
call, ≤ 1 call a second). Amplitude keeps accepting events of a deleted user, so the forwarder itself refuses to
forward a deleted install's later events: it keeps keyed hashes of deleted ids (never the ids in clear, except
in the short queue of ids still to be sent to the Privacy API, which is emptied as soon as Amplitude accepts them).
With several collectors on one shared store (ClickHouse), a deletion requested on one must stop them all: the
hashes are also written to the store (`Store.block_forwarding`), and each forwarder reads the store's list right
before every batch it sends, dropping what it holds of those installs. The hash key is derived from the Amplitude
API key, which every collector forwarding to the same Amplitude project has, so their hashes agree.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blindai_telemetry.stores.base import Store, StoreError

logger = logging.getLogger("blindai_telemetry.collector.forward")

MAX_EVENTS = 2_000
MAX_BYTES = 1_000_000
MAX_DELETION_IDS = 100
#: The Privacy API allows one call a second.
DELETION_INTERVAL = 1.0
MAX_BACKOFF = 60.0

_CONTEXT_AS_USER_PROPERTIES = ("app", "mode", "arch", "python_version", "uptime_s", "cpu_count", "memory_gb", "is_ci",
                               "session_id")
_EVENT_PROPERTIES = ("model_name", "model_size_bytes", "duration_ms", "input_bytes", "ok", "error_kind",
                     "client_install_id", "client_app_version", "client_os_name", "client_os_release", "client_arch",
                     "client_user_agent")


def to_amplitude_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row as an Amplitude HTTP V2 event. The install id is the Amplitude `user_id` (so the Privacy API
    can delete it by user id) and `device_id`; `insert_id` is our event_id; there is deliberately no `ip`."""
    event: dict[str, Any] = {
        "user_id": row["install_id"],
        "device_id": row["install_id"],
        "event_type": row["event"],
        "time": int(row["time"]),
        "insert_id": row["event_id"],
    }
    for ours, theirs in (("app_version", "app_version"), ("os_name", "os_name"), ("os_release", "os_version"),
                         ("app", "platform")):
        if row.get(ours) is not None:
            event[theirs] = row[ours]
    extra = row.get("properties")
    if isinstance(extra, str):
        with contextlib.suppress(ValueError):
            extra = json.loads(extra)
    props = {k: row[k] for k in _EVENT_PROPERTIES if row.get(k) is not None}
    if isinstance(extra, dict):
        props.update(extra)
    if props:
        event["event_properties"] = props
    user = {k: row[k] for k in _CONTEXT_AS_USER_PROPERTIES if row.get(k) is not None}
    if user:
        event["user_properties"] = user
    return event


@dataclass
class ForwardStats:
    forwarded: int = 0
    rejected: int = 0  # events Amplitude refused as invalid (400), dropped
    blocked: int = 0  # events of deleted installs, never forwarded
    failures: int = 0  # failed attempts (network, 5xx, 429)
    deletions_sent: int = 0


class AmplitudeForwarder:
    """Drains the outbox to Amplitude on a background thread. `enqueue()` is called by the collector's writer."""

    def __init__(
        self,
        api_key: str,
        outbox_path: str | Path,
        *,
        base_url: str = "https://api2.amplitude.com",
        privacy_url: str = "https://amplitude.com",
        secret_key: str | None = None,
        interval: float = 1.0,
        timeout: float = 10.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        self._base_url = base_url.rstrip("/")
        self._privacy_url = privacy_url.rstrip("/")
        self._interval = interval
        self._timeout = timeout
        self._batch_limit = MAX_EVENTS
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._last_deletion_call = 0.0
        self.stats = ForwardStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one SQLite connection, shared by the writer and the drain thread
        self._db = sqlite3.connect(str(outbox_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged event must survive a power cut between store commit and forwarding.
        self._db.execute("PRAGMA synchronous=FULL")
        # Deleted rows are overwritten, not left in free pages: the privacy queue holds ids in clear briefly.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, insert_id TEXT UNIQUE,
                                               install_hash TEXT NOT NULL, body TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS outbox_install ON outbox (install_hash);
            CREATE TABLE IF NOT EXISTS blocked (install_hash TEXT PRIMARY KEY, blocked_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS privacy_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT UNIQUE);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )
        # The same key in every collector forwarding to this Amplitude project, so that the hashes they share
        # through the store agree; a hash is of a random install id, keyed so a short id cannot be guessed back.
        self._hash_key = hmac.new(api_key.encode(), b"blindai-telemetry forwarding blocks", hashlib.sha256).digest()
        self._shared: Store | None = None
        self._known_shared: set[str] = set()
        self._sleep = sleep or (lambda s: self._stop.wait(s))

    # -- called by the collector ----------------------------------------------------------------------------------
    def share_blocks_through(self, store: Store) -> None:
        """Share deleted installs with the other collectors of `store` (when several processes write to it)."""
        if store.shared_by_processes:
            self._shared = store

    def _hash(self, install_id: str) -> str:
        return hmac.new(self._hash_key, install_id.encode(), hashlib.sha256).hexdigest()

    def enqueue(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Durably add stored rows to the outbox; rows of deleted installs are refused. Returns rows queued."""
        items = []
        with self._lock:
            blocked = {r[0] for r in self._db.execute("SELECT install_hash FROM blocked")} if rows else set()
            for row in rows:
                h = self._hash(str(row["install_id"]))
                if h in blocked:
                    self.stats.blocked += 1
                    continue
                items.append((str(row["event_id"]), h, json.dumps(to_amplitude_event(row), separators=(",", ":"))))
            if items:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("INSERT OR IGNORE INTO outbox (insert_id, install_hash, body) VALUES (?,?,?)",
                                         items)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        if items:
            self._wake.set()
        return len(items)

    def forget(self, install_ids: Sequence[str]) -> None:
        """An install's data was deleted: drop its queued events, never forward its later ones, and ask Amplitude
        to delete what it already has."""
        hashes = [(self._hash(i), int(time.time() * 1000)) for i in install_ids]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR IGNORE INTO blocked VALUES (?, ?)", hashes)
                self._db.executemany("DELETE FROM outbox WHERE install_hash = ?", [(h,) for h, _ in hashes])
                if self._secret_key:
                    self._db.executemany("INSERT OR IGNORE INTO privacy_queue (user_id) VALUES (?)",
                                         [(i,) for i in install_ids])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if self._shared is not None:
            # Raises StoreError: the deletion then stays pending (the requester asks again), never half-promised.
            self._shared.block_forwarding([h for h, _ in hashes])
        self._wake.set()

    def _block(self, hashes: Iterable[str]) -> None:
        """Installs deleted through another collector: drop what is queued of them, refuse their later events."""
        now = int(time.time() * 1000)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR IGNORE INTO blocked VALUES (?, ?)", [(h, now) for h in hashes])
                dropped = self._db.executemany("DELETE FROM outbox WHERE install_hash = ?", [(h,) for h in hashes])
                self.stats.blocked += max(0, dropped.rowcount)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _sync_shared_blocks(self) -> bool:
        """Read the shared store's list before a send. False when it cannot be read: then nothing is sent."""
        if self._shared is None:
            return True
        try:
            shared = self._shared.forwarding_blocks()
        except StoreError as err:
            logger.warning("cannot read the deleted installs shared by other collectors (%s); will retry", err)
            self._backoff_after(None)
            return False
        new = shared - self._known_shared
        if new:
            self._block(new)
            self._known_shared |= new
        return True

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def pending_deletions(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM privacy_queue").fetchone()[0])

    # -- the drain loop -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="blindai-telemetry-forwarder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the forwarder must outlive a bug in one attempt; it is logged
                logger.exception("forwarding attempt failed")
                busy = False
            if not busy:
                self._wake.wait(self._interval)
                self._wake.clear()

    def run_once(self) -> bool:
        """One step: a Privacy API call if one is due, then one batch. True when there is more to do now."""
        now = time.monotonic()
        if now < self._next_attempt:
            self._sleep(self._next_attempt - now)
            if self._stop.is_set():
                return False
        more = self._send_deletions()
        return self._send_batch() or more

    def _backoff_after(self, retry_after: float | None) -> None:
        self.stats.failures += 1
        self._backoff = min(MAX_BACKOFF, max(1.0, self._backoff * 2))
        # Full jitter (AWS architecture blog) so many collectors recovering together do not stampede.
        delay = retry_after if retry_after is not None else random.uniform(0, self._backoff)
        self._next_attempt = time.monotonic() + min(delay, MAX_BACKOFF)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any], float | None]:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                status, raw, retry = response.status, response.read(), response.headers.get("Retry-After")
        except urllib.error.HTTPError as err:
            status, raw, retry = err.code, err.read(), err.headers.get("Retry-After")
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {}
        retry_after = None
        with contextlib.suppress(TypeError, ValueError):
            retry_after = max(0.0, float(retry)) if retry is not None else None
        return status, parsed if isinstance(parsed, dict) else {}, retry_after

    def _send_batch(self) -> bool:
        if self.pending() and not self._sync_shared_blocks():
            return False
        with self._lock:
            rows = self._db.execute("SELECT seq, body FROM outbox ORDER BY seq LIMIT ?",
                                    (self._batch_limit,)).fetchall()
        if not rows:
            return False
        limit = self._batch_limit
        seqs: list[int] = []
        bodies: list[str] = []
        size = 0
        for seq, body in rows:
            if bodies and size + len(body) + 1 > MAX_BYTES - 1_000:  # room for the envelope
                break
            seqs.append(seq)
            bodies.append(body)
            size += len(body) + 1
        payload = ('{"api_key":' + json.dumps(self._api_key) + ',"events":[' + ",".join(bodies) + "]}").encode()
        try:
            status, answer, retry_after = self._post(self._base_url + "/2/httpapi", payload, {})
        except OSError as err:  # network errors, timeouts, resets
            logger.warning("Amplitude unreachable (%s); will retry", type(err).__name__)
            self._backoff_after(None)
            return False
        if status == 200:
            self._done(seqs)
            self.stats.forwarded += len(seqs)
            self._backoff = 0.0
            self._batch_limit = min(MAX_EVENTS, self._batch_limit * 2)
            return len(rows) > len(seqs) or len(rows) == limit
        if status == 413:
            self._batch_limit = max(1, len(seqs) // 2)
            return True
        if status == 400:
            invalid = _invalid_indexes(answer)
            if invalid:
                self._done([seqs[i] for i in invalid if i < len(seqs)])
                self.stats.rejected += len(invalid)
                return True
            # A 400 naming no event (a wrong api key): nothing to drop; keep the events and retry slowly.
            logger.warning("Amplitude refused the batch: %s", str(answer.get("error", ""))[:200])
            self._backoff_after(None)
            return False
        self._backoff_after(retry_after if status in (429, 503) else None)
        return False

    def _done(self, seqs: Sequence[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def _send_deletions(self) -> bool:
        if not self._secret_key or time.monotonic() - self._last_deletion_call < DELETION_INTERVAL:
            return False
        with self._lock:
            rows = self._db.execute("SELECT seq, user_id FROM privacy_queue ORDER BY seq LIMIT ?",
                                    (MAX_DELETION_IDS,)).fetchall()
        if not rows:
            return False
        self._last_deletion_call = time.monotonic()
        auth = base64.b64encode(f"{self._api_key}:{self._secret_key}".encode()).decode()
        body = json.dumps({"user_ids": [r[1] for r in rows], "requester": "blindai-telemetry collector",
                           "ignore_invalid_ids": True}).encode()
        try:
            status, _, _ = self._post(self._privacy_url + "/api/2/deletions/users", body,
                                      {"Authorization": f"Basic {auth}"})
        except OSError:
            return False
        if status == 200:
            self._done_deletions([r[0] for r in rows])
            self.stats.deletions_sent += len(rows)
            return True
        logger.warning("Amplitude's Privacy API answered %d; will retry", status)
        return False

    def _done_deletions(self, seqs: Sequence[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM privacy_queue WHERE seq = ?", [(s,) for s in seqs])


def _invalid_indexes(answer: Mapping[str, Any]) -> list[int]:
    """Event indexes a 400 names in `events_with_invalid_fields` / `events_with_missing_fields`."""
    found: set[int] = set()
    for key in ("events_with_invalid_fields", "events_with_missing_fields"):
        groups = answer.get(key)
        if isinstance(groups, dict):
            for indexes in groups.values():
                if isinstance(indexes, list):
                    found.update(i for i in indexes if isinstance(i, int) and i >= 0)
    return sorted(found)
