"""`Outbox`: batches waiting for delivery, in memory and in the spool, oldest first.

While the collector answers, batches live in memory only: the spool costs nothing on a healthy path. When a
send fails, the batches behind the one being retried go to disk (`spill`), so memory stays bounded and a crash
loses nothing already built; at exit, whatever is still unacknowledged is written too (`keep_all`). Batches
left by an earlier process of the same install go out first, each claimed so that no two processes send it.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from pathlib import Path

from blindai_telemetry._batch import Batch, Pacer, encode_native
from blindai_telemetry._ledger import DropLedger
from blindai_telemetry._spool import Removed, Spool, SpoolFile


class Outbox:
    def __init__(self, spool: Spool | None, ledger: DropLedger, pacer: Pacer,
                 settled: Callable[[int], None]) -> None:
        self.spool = spool
        self._ledger = ledger
        self._pacer = pacer
        self._settled = settled  # called with the number of this process's items a batch stood for
        self.lock = threading.RLock()  # the worker and, at exit, the host thread
        self._memory: collections.deque[Batch] = collections.deque()
        self._own: collections.deque[tuple[Path, int]] = collections.deque()  # spilled: (file, items)
        self._earlier: collections.deque[SpoolFile] = collections.deque(spool.waiting() if spool else ())

    def reset_after_fork(self, settled: Callable[[int], None]) -> None:
        """A forked child sends none of its parent's batches (the parent does), and has a lock of its own."""
        self.lock = threading.RLock()
        self._settled = settled
        self._memory.clear()
        self._own.clear()
        self._earlier.clear()

    def head(self) -> Batch | None:
        """The batch to send next: in memory, else an earlier process's, else one this process spilled."""
        with self.lock:
            while not self._memory and (self._earlier or self._own):
                if self._earlier:
                    self._load(self._earlier.popleft(), 0)
                else:
                    path, items = self._own.popleft()
                    file = SpoolFile(path, 0, None)
                    if not self._load(file, items):
                        self._settled(items)  # sent by another process of this install, or pushed out
            return self._memory[0] if self._memory else None

    def _load(self, file: SpoolFile, items: int) -> bool:
        assert self.spool is not None
        path = self.spool.claim(file)
        if path is None:
            return False
        data = self.spool.load(path)
        if data is None:  # unreadable: nothing to send, nothing to count (its events were never known here)
            self.spool.remove(path)
            return False
        dropped = data.get("dropped")
        self._memory.append(Batch(data["events"], dropped if isinstance(dropped, dict) else {}, items, path))
        return True

    def push(self, batch: Batch) -> None:
        with self.lock:
            self._memory.append(batch)

    def resolved(self) -> Batch:
        """The head was delivered or refused for good: forget it."""
        with self.lock:
            batch = self._memory.popleft()
            if self.spool is not None:
                self.spool.remove(batch.spool_path)
        self._settled(batch.items)
        return batch

    def replace_head(self, *batches: Batch) -> None:
        """The head became `batches` (a 413 split)."""
        with self.lock:
            head = self._memory.popleft()
            if self.spool is not None:
                self.spool.remove(head.spool_path)
            self._memory.extendleft(reversed(batches))

    def spill(self) -> bool:
        """The head is being retried: every batch behind it goes to disk; False when the disk refused."""
        if self.spool is None:
            return False
        with self.lock:
            while len(self._memory) > 1:
                batch = self._memory[-1]
                if batch.spool_path is None:
                    path = self._write(batch)
                    if path is None:
                        return False  # the batch stays in memory, and the bounded queue holds the rest
                    self._own.appendleft((path, batch.items))
                else:
                    self._own.appendleft((self.spool.release(batch.spool_path), batch.items))
                self._memory.pop()
        return True

    def keep_all(self) -> int:
        """At exit: every batch not acknowledged is left on disk for the next process; the number of events
        that could not be kept (no spool, or the disk refused)."""
        with self.lock:
            unkept = 0
            while self._memory:
                batch = self._memory.pop()
                if self.spool is None:
                    unkept += len(batch.events)
                elif batch.spool_path is not None:
                    self.spool.release(batch.spool_path)
                elif self._write(batch) is None:
                    unkept += len(batch.events)
                    self._ledger.give_back(batch.dropped)
            return unkept

    def keep(self, batch: Batch) -> bool:
        """Write a fresh batch straight to disk (at exit, or while the collector is down)."""
        with self.lock:
            if self.spool is None:
                return False
            path = self._write(batch)
            if path is not None:
                self._own.append((path, batch.items))
            return path is not None

    def _write(self, batch: Batch) -> Path | None:
        assert self.spool is not None
        path, removed = self.spool.write(encode_native(batch, self._pacer), len(batch.events))
        self._removed(removed)
        return path

    def _removed(self, removed: list[Removed]) -> None:
        """Batches the spool deleted for room: their events lost (counted), their drop counts passed on."""
        for old in removed:
            self._ledger.lost("spool_full", old.events)
            self._ledger.give_back(old.dropped)
            for i, (path, items) in enumerate(self._own):
                if path == old.path:
                    del self._own[i]
                    self._settled(items)
                    break

    def pending(self) -> bool:
        with self.lock:
            return bool(self._memory or self._own or self._earlier)

    def __len__(self) -> int:
        return len(self._memory)
