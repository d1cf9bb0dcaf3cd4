"""Fixtures for the publish tests: the known fleet in a real DuckDB file, and the CLI run as users run it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from blindai_telemetry.cli.main import cli
from blindai_telemetry.stores import open_store

from . import dataset

Publish = Callable[..., Result]


@pytest.fixture(scope="module")
def today() -> date:
    return datetime.now(timezone.utc).date()


@pytest.fixture(scope="module")
def fleet(today: date) -> tuple[list[dict[str, Any]], dataset.Expected]:
    return dataset.fleet(today)


@pytest.fixture(scope="module")
def duck_file(tmp_path_factory: pytest.TempPathFactory, fleet: tuple[list[dict[str, Any]], Any]) -> Path:
    """A DuckDB file holding the fleet, closed (as `publish --db` needs it: no collector has it open)."""
    path = tmp_path_factory.mktemp("publish") / "events.duckdb"
    store = open_store(db=str(path))
    store.write(fleet[0])
    store.close()
    return path


@pytest.fixture
def publish() -> Publish:
    """`blindai-telemetry publish ARGS...` in this process (tests/conftest.py puts its config directory, where
    the default key lives, under tmp_path/telemetry-config)."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["publish", *args], catch_exceptions=False)

    return run


def output_text(directory: Path) -> dict[str, str]:
    """Every file the report wrote, as text, except the bundled chart library (the package's own bytes, which
    hold no data; its banner names its own version, 4.6.1)."""
    vendor = (Path(__file__).parents[2] / "src/blindai_telemetry/dashboard/static/vendor/chart.umd.min.js")
    out = {}
    for path in sorted(directory.iterdir()):
        if path.name == "chart.umd.min.js":
            assert path.read_bytes() == vendor.read_bytes()
            continue
        out[path.name] = path.read_text(encoding="utf-8")
    return out


def report_json(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    return data
