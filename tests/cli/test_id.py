"""`blindai-telemetry id` shows the install id; `id --reset` makes a new one and remembers the old one."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from blindai_telemetry import _config
from blindai_telemetry import environment_variables as ev

from ._helpers import Invoke


def test_id_creates_a_random_uuid_once_and_shows_it_again(invoke: Invoke) -> None:
    first = invoke("id").stdout.strip()
    assert uuid.UUID(first).version == 4
    assert invoke("id").stdout.strip() == first
    assert _config.load_user_config().install_id == first


def test_id_shows_the_id_the_sdk_saved(invoke: Invoke) -> None:
    saved, _ = _config.get_or_create_install_id()
    assert invoke("id").stdout.strip() == saved


def test_id_when_disabled_creates_nothing(invoke: Invoke, monkeypatch: pytest.MonkeyPatch,
                                          clean_telemetry_env: Path) -> None:
    monkeypatch.setenv(ev.BLINDAI_DISABLE_TELEMETRY, "1")
    result = invoke("id")
    assert result.stdout == "" and "telemetry is disabled" in result.stderr
    assert not clean_telemetry_env.exists()


def test_id_when_disabled_still_shows_an_existing_id(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    saved, _ = _config.get_or_create_install_id()
    monkeypatch.setenv(ev.DO_NOT_TRACK, "1")
    assert invoke("id").stdout.strip() == saved


def test_reset_makes_a_new_id_and_keeps_the_old_for_deletion(invoke: Invoke) -> None:
    old = invoke("id").stdout.strip()
    out = invoke("id", "--reset").stdout
    cfg = _config.load_user_config()
    assert cfg.install_id != old and cfg.install_id in out and old in out
    assert cfg.previous_install_ids == [old]
    assert invoke("id").stdout.strip() == cfg.install_id


def test_reset_without_a_terminal_does_not_delete_and_says_how(invoke: Invoke) -> None:
    old = invoke("id").stdout.strip()
    out = invoke("id", "--reset").stdout  # CliRunner's stdin is not a terminal: no prompt, no deletion
    assert "Not deleted" in out and "blindai-telemetry delete-my-data" in out
    assert _config.load_user_config().previous_install_ids == [old]


def test_reset_no_delete_flag(invoke: Invoke) -> None:
    invoke("id")
    assert "Not deleted" in invoke("id", "--reset", "--no-delete").stdout


def test_reset_yes_with_unreachable_collector_fails_clearly_and_keeps_the_old_id(invoke: Invoke) -> None:
    old = invoke("id").stdout.strip()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = invoke("id", "--reset", "--yes", "--endpoint", url, "--timeout", "2", expect=1)
    assert "Could not reach the collector" in result.stderr and url in result.stderr
    assert _config.load_user_config().previous_install_ids == [old]  # kept, so the deletion can be retried


def test_yes_without_reset_is_a_usage_error(invoke: Invoke) -> None:
    assert "only apply with --reset" in invoke("id", "--yes", expect=2).stderr
