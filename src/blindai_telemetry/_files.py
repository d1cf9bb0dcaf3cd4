"""The SDK's small files: JSON read as defaults when unreadable, written atomically, updated under a lock.

Used for the user's settings (`_config`) and the delivery record (`_delivery`). Nothing here raises into the host:
an unreadable file reads as `{}`, an unwritable one returns False, a lock that cannot be had in time is reported
as not held and the caller decides.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: How often a process waiting for a lock tries again.
_LOCK_POLL = 0.005


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; `{}` when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> bool:
    """Write via a temporary file and rename, so a crash never leaves a half-written file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        return False
    return True


@contextlib.contextmanager
def exclusive(path: Path, timeout: float) -> Iterator[bool]:
    """Hold an exclusive lock on the lock file `path` (made if missing) for the `with` block, across processes;
    yields False when it could not be had within `timeout` seconds (the block runs all the same: the caller
    chose a timeout because going on unlocked beats waiting). `flock` on POSIX, `msvcrt.locking` on Windows;
    either is released by the system if the process dies holding it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield False
        return
    try:
        deadline = time.monotonic() + timeout
        held = _try_lock(fd)
        while not held and time.monotonic() < deadline:
            time.sleep(_LOCK_POLL)
            held = _try_lock(fd)
        try:
            yield held
        finally:
            if held:
                _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # the file's first byte: the same byte for every process
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
