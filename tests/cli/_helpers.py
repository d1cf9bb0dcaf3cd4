"""Helpers shared by the CLI tests."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

Invoke = Callable[..., Result]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the socket is closed on leaving): connection refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
