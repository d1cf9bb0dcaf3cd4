"""Helpers shared by the CLI tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

Invoke = Callable[..., Result]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
