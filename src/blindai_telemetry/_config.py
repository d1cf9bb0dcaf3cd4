"""The user's telemetry settings and local records, kept in the config directory.

Read and written here; decided elsewhere: the opt-out by `privacy.telemetry_decision`, every other setting by
`_settings.Settings.resolve`.

Files in the config directory (`BLINDAI_TELEMETRY_CONFIG_DIR`, else platformdirs' user config dir):
- `config.json`  — {"enabled": bool (absent: never set), "install_id": str, "previous_install_ids": [str],
                    "notice_shown_at": Unix ms, "hash_key": hex}. Written by the SDK and the CLI. `hash_key` is the
                    install's secret key for hashing model names (never sent; a new id gets a new key).
- `sent.jsonl`   — the transparency log: one JSON object per batch that left the process (see `append_sent_log`),
                    rotated to `sent.jsonl.1` past `SENT_LOG_MAX_BYTES` (4 MB). Read by `blindai-telemetry inspect`.

What became of the events (`delivery.json`) and the events still waiting (the spool) are kept in the user's state
directory instead: see `_delivery`.

Nothing here raises into the host: unreadable files read as defaults, unwritable ones return False.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from blindai_telemetry import environment_variables as ev
from blindai_telemetry._files import read_json, write_json_atomic

CONFIG_FILE = "config.json"
SENT_LOG = "sent.jsonl"
#: The transparency log keeps the last ~4 MB of batches (plus one rotated file, 8 MB at most): a full batch of
#: 500 events is ~350 kB, so this is the last ~10,000 events a busy server sent, small enough never to matter on
#: disk. Each rotation deletes the previous rotated file: at 1 MB that cost a busy worker ~0.4 µs an event, at
#: 4 MB ~0.1, beside ~0.2 µs for writing the log at all.
SENT_LOG_MAX_BYTES = 4_000_000


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory holding this user's telemetry settings (not created here)."""
    environ = os.environ if environ is None else environ
    override = environ.get(ev.BLINDAI_TELEMETRY_CONFIG_DIR)
    if override:
        return Path(override)
    import platformdirs  # deferred: only needed when no override is set

    return Path(platformdirs.user_config_dir("blindai-telemetry", appauthor=False))


@dataclass
class UserConfig:
    enabled: bool | None = None
    install_id: str | None = None
    previous_install_ids: list[str] = field(default_factory=list)
    notice_shown_at: int | None = None
    hash_key: str | None = None


def _valid_uuid(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def load_user_config(directory: Path | None = None) -> UserConfig:
    data = read_json((directory or config_dir()) / CONFIG_FILE)
    enabled = data.get("enabled")
    previous = data.get("previous_install_ids")
    notice = data.get("notice_shown_at")
    return UserConfig(
        enabled=enabled if isinstance(enabled, bool) else None,
        install_id=_valid_uuid(data.get("install_id")),
        previous_install_ids=[p for p in (previous or []) if _valid_uuid(p)] if isinstance(previous, list) else [],
        notice_shown_at=notice if isinstance(notice, int) else None,
        hash_key=data["hash_key"] if isinstance(data.get("hash_key"), str) else None,
    )


def save_user_config(cfg: UserConfig, directory: Path | None = None) -> bool:
    return write_json_atomic((directory or config_dir()) / CONFIG_FILE, asdict(cfg))


def get_or_create_install_id(directory: Path | None = None) -> tuple[str, bool]:
    """This install's id and whether it is persisted. A new random UUID4 is saved on first use; when the
    config directory is not writable (read-only containers) the id lives in memory for this process only."""
    directory = directory or config_dir()
    cfg = load_user_config(directory)
    if cfg.install_id:
        return cfg.install_id, True
    cfg.install_id = str(uuid.uuid4())
    return cfg.install_id, save_user_config(cfg, directory)


def reset_install_id(directory: Path | None = None) -> tuple[str, str | None]:
    """Make a new install id; the old one is remembered in `previous_install_ids` for `delete-my-data`.
    Returns (new, old)."""
    directory = directory or config_dir()
    cfg = load_user_config(directory)
    old = cfg.install_id
    if old and old not in cfg.previous_install_ids:
        cfg.previous_install_ids.append(old)
    cfg.install_id = str(uuid.uuid4())
    cfg.hash_key = None  # a new identity must not be linkable to the old one through model-name hashes
    save_user_config(cfg, directory)
    return cfg.install_id, old


def append_sent_log(record: Mapping[str, Any], directory: Path | None = None) -> bool:
    """Append one record to the transparency log: {"sent_at": ms, "transport": name, "endpoint": url,
    "outcome": "ok"|"retry"|"drop"|"debug", "events": n, "payload": <the JSON object exactly as sent>}."""
    return append_sent_line(json.dumps(record, separators=(",", ":"), sort_keys=True), directory)


def append_sent_line(line: str | list[bytes], directory: Path | None = None) -> bool:
    """Append one record already serialised as one line of JSON, or as the parts of that line: the worker
    splices the batch's own bytes in, without serialising, decoding or even joining them again.

    Four system calls (open, fstat, writev, close) where a buffered file object made about ten (its open alone
    makes four): each lets go of the GIL, and on a busy server taking it back costs the worker more than the
    call itself — ~0.6 ms a batch, 2.7 µs an event, in the reference server."""
    path = (directory or config_dir()) / SENT_LOG
    parts = [line.encode("utf-8"), b"\n"] if isinstance(line, str) else [*line, b"\n"]
    size = sum(map(len, parts))
    try:
        fd = _open_to_append(path)
        try:
            end = os.fstat(fd).st_size
            if end and end + size > SENT_LOG_MAX_BYTES:
                os.close(fd)
                fd = -1
                os.replace(path, path.with_name(SENT_LOG + ".1"))
                fd = _open_to_append(path)
            _write_all(fd, parts, size)
        finally:
            if fd >= 0:
                os.close(fd)
    except OSError:
        return False
    return True


def _open_to_append(path: Path) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags, 0o666)  # like open("ab"): the umask applies
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o666)


def _write_all(fd: int, parts: list[bytes], size: int) -> None:
    """One `writev` where there is one (not on Windows); the rest, should it write less, as plain writes."""
    written = os.writev(fd, parts) if hasattr(os, "writev") else 0
    if written < size:
        rest = memoryview(b"".join(parts))[written:]
        while rest:
            rest = rest[os.write(fd, rest):]


def read_sent_log(directory: Path | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The last `limit` records of the transparency log (all of them for 0), oldest first. Only the lines
    shown are parsed: the log holds megabytes of batches, `inspect` shows a few."""
    directory = directory or config_dir()
    lines: list[bytes] = []
    for path in (directory / (SENT_LOG + ".1"), directory / SENT_LOG):
        with contextlib.suppress(OSError):
            lines.extend(path.read_bytes().splitlines())
    records: list[dict[str, Any]] = []
    for line in reversed(lines):
        if 0 < limit <= len(records):
            break
        with contextlib.suppress(ValueError):
            obj = json.loads(line)
            if isinstance(obj, dict):
                records.append(obj)
    return records[::-1]
