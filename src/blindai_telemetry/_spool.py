"""The spool: batches not yet acknowledged, on disk, so that they survive a collector outage and an exit.

One JSON file per batch (the native batch, before any transport encoding), written atomically, named
`<time ns>-<pid>-<random>-<events>e.batch.json` so that its age and size in events are known without reading it.
A process about to send a file claims it by renaming it (`….claimed-<pid>-<token>`): one rename succeeds, so two
processes of the same install never send the same file. A claim whose process is gone (killed) is taken back
by the next start; a process that exits hands its claims back. The token, random per process, tells a claim of
this process from one of an earlier process that had the same pid (PID 1 in a container restarted on the same
volume).

The directory is bounded by `max_bytes` (default 10 MB, about 15,000 `model_run` events: hours of a busy
server's telemetry during an outage). Past it the oldest unclaimed files go first, and the caller counts their
events as `spool_full`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAX_BYTES = 10_000_000
_SUFFIX = ".batch.json"
_CLAIM = ".claimed-"
_NAME = re.compile(r"^(\d+)-(\d+)-[0-9a-f]+-(\d+)e\.batch\.json(?:\.claimed-(\d+)-([0-9a-f]+))?$")
_TOKEN = uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class SpoolFile:
    path: Path
    events: int
    #: The process that claimed it, or None when it waits for anyone.
    claimed_by: int | None
    claim_token: str = ""

    @property
    def created_ns(self) -> int:
        return int(self.path.name.split("-", 1)[0])


@dataclass(frozen=True)
class Removed:
    """A batch the spool deleted to stay within its bound: its events are lost, its drop counts must travel on."""

    path: Path
    events: int
    dropped: dict[str, Any]


def _parse(path: Path) -> SpoolFile | None:
    match = _NAME.match(path.name)
    if match is None:
        return None
    return SpoolFile(path, int(match.group(3)), int(match.group(4)) if match.group(4) else None,
                     match.group(5) or "")


def _claim_suffix() -> str:
    return f"{_CLAIM}{os.getpid()}-{_TOKEN}"


def _alive(pid: int, token: str) -> bool:
    """Whether the process that claimed a file may still be sending it."""
    if pid == os.getpid():
        return token == _TOKEN  # else an earlier process that had our pid
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process there: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


class Spool:
    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def listing(self) -> list[SpoolFile]:
        """Every spooled batch, claimed or not, oldest first."""
        try:
            names = [_parse(p) for p in self.directory.iterdir()]
        except OSError:
            return []
        return sorted((f for f in names if f is not None), key=lambda f: f.path.name)

    def waiting(self) -> list[SpoolFile]:
        """Batches no live process is sending: what the next start delivers (`inspect`, `status`)."""
        return [f for f in self.listing() if f.claimed_by is None or not _alive(f.claimed_by, f.claim_token)]

    def pending_events(self) -> int:
        return sum(f.events for f in self.listing())

    def write(self, data: bytes, events: int, claim: bool = False) -> tuple[Path | None, list[Removed]]:
        """Store one encoded batch of `events` events (claimed by this process when `claim`); returns its file
        (None when the disk refused) and the batches removed to make room."""
        removed = self._make_room(len(data))
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{events}e{_SUFFIX}"
        if claim:
            name += _claim_suffix()
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

    def claim(self, file: SpoolFile) -> Path | None:
        """Take `file` for this process; None when another process took it first (or it is gone)."""
        base = file.path.name.split(_CLAIM, 1)[0]
        if file.claimed_by is not None and _alive(file.claimed_by, file.claim_token):
            return None
        target = file.path.with_name(base + _claim_suffix())
        try:
            os.rename(file.path, target)
        except OSError:
            return None
        return target

    def release(self, path: Path) -> Path:
        """Hand a claimed file back: the next process of this install to look sends it. Returns its new path."""
        unclaimed = path.with_name(path.name.split(_CLAIM, 1)[0])
        with contextlib.suppress(OSError):
            os.rename(path, unclaimed)
        return unclaimed

    def _make_room(self, incoming: int) -> list[Removed]:
        files = self.listing()
        sizes = []
        for f in files:
            try:
                sizes.append(f.path.stat().st_size)
            except OSError:
                sizes.append(0)
        total = sum(sizes)
        removed: list[Removed] = []
        for file, size in zip(files, sizes, strict=True):
            if total + incoming <= self.max_bytes:
                break
            claimed = self.claim(file)  # a batch being sent stays; and no other process sends what we delete
            if claimed is None:
                continue
            data = self.load(claimed) or {}
            dropped = data.get("dropped")
            removed.append(Removed(file.path, file.events, dropped if isinstance(dropped, dict) else {}))
            self.remove(claimed)
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
