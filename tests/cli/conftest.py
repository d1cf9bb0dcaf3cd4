"""Fixtures for the CLI tests: a click runner that invokes the real `blindai-telemetry` group."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from blindai_telemetry.cli.main import cli

from ._helpers import Invoke
from ._sink import Sink, running_sink


@pytest.fixture
def invoke() -> Invoke:
    """Run `blindai-telemetry ARGS` in-process; the autouse fixture has already isolated the config dir."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None, expect: int = 0) -> Result:
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == expect, (result.exit_code, result.output)
        return result

    return run


@pytest.fixture
def config_file(clean_telemetry_env: Path) -> Path:
    return clean_telemetry_env / "config.json"


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A real HTTP receiver on 127.0.0.1 that records every batch the SDK sends it."""
    with running_sink() as s:
        yield s
