"""The context attached to every event (exactly the catalogue's CONTEXT_FIELDS) and the client's `ClientInfo`."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


def _process_start() -> float:
    """When this process started (Unix time): from /proc on Linux, so that uptime counts from the start of
    the server and not from whenever the SDK was first imported; else now."""
    now = time.time()
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields_after_name = f.read().rpartition(")")[2].split()
        with open("/proc/uptime", encoding="ascii") as f:
            system_uptime = float(f.read().split()[0])
        started_ticks = int(fields_after_name[19])  # field 22, `starttime`, in clock ticks after boot
        age = system_uptime - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - age if 0 <= age < 10 * 365 * 86_400 else now


#: When this process started (reset in a forked child).
PROCESS_START = _process_start()


def reset_process_start() -> None:
    global PROCESS_START
    PROCESS_START = time.time()


@dataclass(frozen=True)
class ClientInfo:
    """A client's anonymous facts, sent with its requests so the server can attach them as `client_*` fields.

    The original sent `sha256(hostname-username)`, which anyone can recompute; this carries the client's
    random install id instead, and platform facts without the kernel build string.
    """

    install_id: str | None = None
    app_version: str | None = None
    os_name: str | None = None
    os_release: str | None = None
    arch: str | None = None
    user_agent: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {f.name: v for f in fields(self) if isinstance(v := getattr(self, f.name), str)}

    @classmethod
    def from_dict(cls, data: object) -> ClientInfo:
        """Rebuild from what a client sent: unknown keys and values that are not strings are ignored."""
        if not isinstance(data, Mapping):
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known and isinstance(v, str)})


def platform_facts() -> dict[str, str]:
    """OS name, release and architecture. Never `platform.version()` or `uname().version` (the kernel build
    string, which can name the build host) and never the node name."""
    return {"os_name": platform.system(), "os_release": platform.release(), "arch": platform.machine()}


def memory_gb() -> float | None:
    """Total memory rounded to a power of two (0.5, 1, 2, 4, … GB) so that it cannot fingerprint a machine."""
    total: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        total = None
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, OSError, ValueError):
            return None
    if total <= 0:
        return None
    return float(2 ** round(math.log2(total / 2**30)))


def static_context(*, install_id: str, session_id: str, app: str, app_version: str, mode: str | None,
                   is_ci: bool) -> dict[str, Any]:
    """Every context field but `uptime_s` (which the worker computes per event). Absent facts are omitted."""
    context: dict[str, Any] = {
        "install_id": install_id,
        "session_id": session_id,
        "app": app,
        "app_version": app_version,
        **platform_facts(),
        "python_version": platform.python_version(),
        "mode": mode,
        "cpu_count": os.cpu_count(),
        "memory_gb": memory_gb(),
        "is_ci": is_ci,
    }
    return {k: v for k, v in context.items() if v is not None and v != ""}
