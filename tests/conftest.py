"""Shared fixtures: every test runs with its own config directory and a clean telemetry environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
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
