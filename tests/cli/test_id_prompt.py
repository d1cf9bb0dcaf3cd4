"""`id --reset` at a terminal asks whether to delete the old id's data (a real pseudo-terminal, a real process)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from blindai_telemetry import _config

from ._helpers import closed_port_url

CLI = Path(sys.executable).with_name("blindai-telemetry")


def reset_at_a_terminal(answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode())
        return subprocess.run([str(CLI), "id", "--reset", *args], stdin=slave, capture_output=True, text=True,
                              timeout=60, env=os.environ.copy())
    finally:
        os.close(slave)
        os.close(master)


@pytest.mark.skipif(not CLI.exists(), reason="the console script is not installed next to this Python")
def test_declining_keeps_the_old_data_and_says_how_to_delete_later() -> None:
    old, _ = _config.get_or_create_install_id()
    url = closed_port_url()
    result = reset_at_a_terminal("n\n", "--endpoint", url)
    assert result.returncode == 0, result.stderr
    assert f"Delete the old id's events on the collector now ({url})?" in result.stdout
    assert "Not deleted" in result.stdout and "Could not reach" not in result.stderr
    assert _config.load_user_config().previous_install_ids == [old]


@pytest.mark.skipif(not CLI.exists(), reason="the console script is not installed next to this Python")
def test_no_question_when_no_collector_is_known() -> None:
    """A question whose "yes" could only fail is not asked: the reset says at once that no collector is known."""
    old, _ = _config.get_or_create_install_id()
    result = reset_at_a_terminal("y\n")
    assert result.returncode == 0, result.stderr
    assert "Delete the old id's events" not in result.stdout
    assert "No collector is known" in result.stderr and "Not deleted" in result.stdout
    assert _config.load_user_config().previous_install_ids == [old]


@pytest.mark.skipif(not CLI.exists(), reason="the console script is not installed next to this Python")
def test_accepting_asks_the_collector() -> None:
    old, _ = _config.get_or_create_install_id()
    url = closed_port_url()
    result = reset_at_a_terminal("y\n", "--endpoint", url, "--timeout", "2")
    assert result.returncode == 1
    assert f"Could not reach the collector at {url}" in result.stderr
    assert _config.load_user_config().previous_install_ids == [old]
