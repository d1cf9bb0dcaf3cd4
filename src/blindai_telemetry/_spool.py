"""The optional on-disk spool: batches not yet acknowledged, so events survive a collector outage and a restart.

One JSON file per batch (the native batch, before any transport encoding), written atomically before the
first attempt and removed once the batch is delivered or refused. The directory is bounded: past
`max_bytes` the oldest files go first, and their events are counted as `spool_full` drops.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blindai_telemetry._transport import dumps

#: 10 MB holds ~15,000 events: a few hours of a busy server's telemetry during a collector outage.
DEFAULT_MAX_BYTES = 10_000_000
_SUFFIX = ".batch.json"


@dataclass(frozen=True)
class Removed:
    """A batch the spool deleted to stay within its bound."""

    path: Path
    events: int
    #: The drop counters that batch carried (they must be reported by another batch).
    dropped: dict[str, Any]


class Spool:
    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def files(self) -> list[Path]:
        """Spooled batches, oldest first (names start with a nanosecond timestamp)."""
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))
        except OSError:
            return []

    def write(self, batch: dict[str, Any], keep: Collection[Path] = ()) -> tuple[Path | None, list[Removed]]:
        """Store `batch`; returns (its file, or None when the disk refused; the batches removed to make room).
        Files in `keep` (batches being sent) are not removed."""
        data = dumps(batch)
        removed = self._make_room(len(data), keep)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SUFFIX}"
        path = self.directory / name
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)  # atomic: a crash leaves the old state or the whole file, never half
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return None, removed
        return path, removed

    def _make_room(self, incoming: int, keep: Collection[Path]) -> list[Removed]:
        files = [p for p in self.files() if p not in keep]
        sizes = []
        for p in files:
            try:
                sizes.append(p.stat().st_size)
            except OSError:
                sizes.append(0)
        total = sum(sizes)
        removed: list[Removed] = []
        for path, size in zip(files, sizes, strict=True):
            if total + incoming <= self.max_bytes:
                break
            batch = self.load(path) or {}
            dropped = batch.get("dropped")
            removed.append(Removed(path, len(batch.get("events", [])), dropped if isinstance(dropped, dict) else {}))
            self.remove(path)
            total -= size
        return removed

    def load(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("events"), list) else None

    def remove(self, path: Path | None) -> None:
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
