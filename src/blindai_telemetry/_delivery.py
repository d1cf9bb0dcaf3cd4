"""What became of this install's events, kept across runs: `delivery.json` beside the spool.

`{"sent": N, "lost": N, "last_error": "..." | null, "last_attempt_at": Unix ms, "last_sent_at": Unix ms,
"endpoint": "..."}`, written by the worker after its attempts (never on the caller's thread) and read by
`blindai-telemetry status`; the events waiting (`pending`) are counted from the spool itself. Several processes of
one install share the file: each adds what it did since its own last write, under a lock file
(`delivery.json.lock`), so that neither a process's counts nor its increment is lost to another's write.

Where: beside the user's settings when their directory was chosen (`BLINDAI_TELEMETRY_CONFIG_DIR`,
`config_dir=`: tests, the demo and containers keep everything in one place), else platformdirs' user state
directory (`~/.local/state/blindai-telemetry` on Linux).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blindai_telemetry import _config
from blindai_telemetry import environment_variables as ev
from blindai_telemetry._files import exclusive, read_json, write_json_atomic

logger = logging.getLogger("blindai_telemetry")

DELIVERY_FILE = "delivery.json"
LOCK_FILE = DELIVERY_FILE + ".lock"
SPOOL_DIR = "spool"
#: The state file is rewritten at most this often while batches keep going out (at once when the outcome
#: changes, and always at exit): each write is a dozen system calls under a file lock, ~0.4 ms of a busy
#: server's worker, once a batch at 1 s (a server sends one every flush interval, 2 s).
WRITE_INTERVAL = 10.0
#: How long a write waits for another process's; past it, it goes ahead unlocked (a figure may then be lost,
#: never an event) rather than hold the worker, at exit least of all.
LOCK_TIMEOUT = 0.2


def state_dir(config_dir: Path) -> Path:
    """Where the spool and `delivery.json` of the install whose settings are in `config_dir` live."""
    if os.environ.get(ev.BLINDAI_TELEMETRY_CONFIG_DIR) or config_dir != _config.config_dir():
        return config_dir
    import platformdirs  # deferred, as in _config: only needed for the user's own directories

    return Path(platformdirs.user_state_dir("blindai-telemetry", appauthor=False))


def read(config_dir: Path) -> dict[str, Any]:
    """The install's delivery record (empty when nothing was ever attempted)."""
    return read_json(state_dir(config_dir) / DELIVERY_FILE)


@dataclass
class _Totals:
    sent: int = 0
    lost: int = 0


class DeliveryLog:
    """The worker's side: counts to add to `delivery.json`, and one log line per cause of failure."""

    def __init__(self, directory: Path, endpoint: str | None) -> None:
        self.path = directory / DELIVERY_FILE
        self.endpoint = endpoint
        self._done = _Totals()  # this process's totals
        self._written = _Totals()  # of which already added to the file
        self._last_error: str | None = None
        self._last_attempt_at: int | None = None
        self._last_sent_at: int | None = None
        self._last_write = 0.0
        self._causes: set[str] = set()

    def attempted(self, sent: int, error: str | None, lost: int, retried: bool = True) -> None:
        """After an attempt: `sent` events acknowledged (0 when it failed), `error` in words or None, `lost` the
        process's event losses so far, `retried` whether the failed batch will be sent again."""
        now = int(time.time() * 1000)
        self._last_attempt_at = now
        self._done.sent += sent
        self._done.lost = lost
        if error is None:
            self._last_sent_at = now
            changed = self._last_error is not None
            self._last_error = None
        else:
            changed = self._last_error != error
            self._last_error = error
            self._log_once(error, retried)
        if changed or time.monotonic() - self._last_write >= WRITE_INTERVAL:
            self.write()

    def write(self, lost: int | None = None) -> None:
        """Add this process's counts since its last write to the file (at exit too, with the final `lost`)."""
        if lost is not None:
            self._done.lost = lost
        if self._last_attempt_at is None and self._done.lost == self._written.lost:
            return  # nothing attempted, nothing lost: nothing to say
        with exclusive(self.path.with_name(LOCK_FILE), LOCK_TIMEOUT):
            state = read_json(self.path)
            record = {"sent": _int(state.get("sent")) + self._done.sent - self._written.sent,
                      "lost": _int(state.get("lost")) + self._done.lost - self._written.lost,
                      "last_error": self._last_error if self._last_attempt_at else state.get("last_error"),
                      "last_attempt_at": self._last_attempt_at or state.get("last_attempt_at"),
                      "last_sent_at": self._last_sent_at or state.get("last_sent_at"),
                      "endpoint": self.endpoint}
            self._last_write = time.monotonic()
            if write_json_atomic(self.path, record):
                self._written = _Totals(self._done.sent, self._done.lost)

    def _log_once(self, error: str, retried: bool) -> None:
        """One line per cause (not per attempt): a dead endpoint must not flood the host's logs."""
        if error not in self._causes:
            self._causes.add(error)
            then = "its events wait and are retried" if retried else "its events are dropped (and counted)"
            logger.warning("blindai-telemetry: %s; %s (logged once)", error, then)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
