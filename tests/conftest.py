"""Shared fixtures: every test runs with its own config directory and a clean telemetry environment."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from blindai_telemetry import environment_variables as ev

_CLEARED = (
    ev.BLINDAI_DISABLE_TELEMETRY,
    ev.DO_NOT_TRACK,
    ev.BLINDAI_TELEMETRY_ENDPOINT,
    ev.BLINDAI_TELEMETRY_DEBUG,
    ev.BLINDAI_TELEMETRY_FLUSH_INTERVAL,
    ev.BLINDAI_AZURE_DCSV3_PATCH,
    *ev.CI_VARIABLES,
    "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
)


@pytest.fixture(autouse=True)
def clean_telemetry_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Never touch the developer's own telemetry settings; start each test enabled, outside CI, no proxy."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    config_dir = tmp_path / "telemetry-config"
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_CONFIG_DIR, str(config_dir))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield config_dir
    assert os.environ.get(ev.BLINDAI_TELEMETRY_CONFIG_DIR) == str(config_dir)


_HOLD_DUCKDB_FILE = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
"""


@contextlib.contextmanager
def _held(path: Path) -> Iterator[None]:
    with subprocess.Popen([sys.executable, "-c", _HOLD_DUCKDB_FILE, str(path)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "ready"
            yield
        finally:
            holder.stdin.close()  # the holder exits when its stdin closes
            holder.wait(timeout=30)


@pytest.fixture
def duckdb_held_elsewhere() -> Callable[[Path], contextlib.AbstractContextManager[None]]:
    """`with duckdb_held_elsewhere(path):` another process has the DuckDB file open (DuckDB locks it) meanwhile."""
    return _held
