"""Opt-out is decided before anything else: a disabled Telemetry starts no thread, opens no socket, writes no
file, and does nothing when used."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry import InMemoryTransport, Telemetry, _config
from blindai_telemetry import environment_variables as ev

DISABLING = ["1", "true", "yes", "on", "", "anything", "TRUE", " 1 "]
NOT_DISABLING = ["0", "false", "no", "off", "FALSE", "Off", " no "]


def _use_fully(telemetry: Telemetry) -> None:
    telemetry.track("server_started")
    telemetry.track("model_run", model_name="resnet50", duration_ms=1.0, client=telemetry.client_info())
    assert telemetry.flush(timeout=1.0) is True
    assert telemetry.shutdown(timeout=1.0) is True


@pytest.fixture
def connect_spy(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    original = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> Any:
        calls.append(address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return calls


@pytest.mark.parametrize("variable", [ev.BLINDAI_DISABLE_TELEMETRY, ev.DO_NOT_TRACK])
@pytest.mark.parametrize("value", DISABLING)
def test_kill_switch_gives_a_no_op_without_thread_socket_or_file(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, clean_telemetry_env: Path, connect_spy: list[Any]
) -> None:
    monkeypatch.setenv(variable, value)
    threads_before = set(threading.enumerate())
    telemetry = Telemetry("blindai-server", "0.6.3", endpoint="http://127.0.0.1:9", mode="simulation")
    _use_fully(telemetry)
    assert repr(telemetry).endswith("disabled>")  # the no-op object, not a flag inside the real one
    assert telemetry.install_id is None
    assert telemetry.enabled is False
    assert set(threading.enumerate()) == threads_before
    assert connect_spy == []
    assert not clean_telemetry_env.exists()


@pytest.mark.parametrize("variable", [ev.BLINDAI_DISABLE_TELEMETRY, ev.DO_NOT_TRACK])
@pytest.mark.parametrize("value", NOT_DISABLING)
def test_false_words_leave_telemetry_on(variable: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    transport = InMemoryTransport()
    telemetry = Telemetry("blindai-server", "0.6.3", transport=transport)
    try:
        assert telemetry.enabled
        telemetry.track("server_started")
        assert telemetry.flush(timeout=5.0)
        assert [e["event"] for e in transport.events] == ["server_started"]
    finally:
        telemetry.shutdown(timeout=0.5)


def test_kill_switch_wins_over_enabled_true_and_a_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ev.DO_NOT_TRACK, "1")
    transport = InMemoryTransport()
    telemetry = Telemetry("a", "1", enabled=True, transport=transport)
    _use_fully(telemetry)
    assert transport.payloads == []


def test_cli_disable_setting_is_honoured(clean_telemetry_env: Path, connect_spy: list[Any]) -> None:
    _config.save_user_config(_config.UserConfig(enabled=False), clean_telemetry_env)
    before = sorted(p.name for p in clean_telemetry_env.iterdir())
    telemetry = Telemetry("a", "1", endpoint="http://127.0.0.1:9")
    _use_fully(telemetry)
    assert repr(telemetry).endswith("disabled>")  # the no-op object, not a flag inside the real one
    assert sorted(p.name for p in clean_telemetry_env.iterdir()) == before  # no install id was made
    assert connect_spy == []


def test_enabled_false_argument_disables(clean_telemetry_env: Path) -> None:
    telemetry = Telemetry("a", "1", endpoint="http://127.0.0.1:9", enabled=False)
    _use_fully(telemetry)
    assert telemetry.install_id is None
    assert not clean_telemetry_env.exists()


@pytest.mark.parametrize("endpoint", [None, "", "not a url", "ftp://example.invalid"])
def test_no_valid_destination_means_off_rather_than_an_exception(endpoint: str | None,
                                                                 clean_telemetry_env: Path) -> None:
    telemetry = Telemetry("a", "1", endpoint=endpoint)
    _use_fully(telemetry)
    assert repr(telemetry).endswith("disabled>")  # the no-op object, not a flag inside the real one
    assert not clean_telemetry_env.exists()


def test_disabled_config_dir_argument_is_where_the_setting_is_read(tmp_path: Path) -> None:
    _config.save_user_config(_config.UserConfig(enabled=False), tmp_path / "other")
    assert not Telemetry("a", "1", endpoint="http://127.0.0.1:9", config_dir=tmp_path / "other").enabled


def test_subclasses_honour_the_kill_switch_too(monkeypatch: pytest.MonkeyPatch) -> None:
    class MyTelemetry(Telemetry):
        pass

    monkeypatch.setenv(ev.BLINDAI_DISABLE_TELEMETRY, "1")
    telemetry = MyTelemetry("a", "1", transport=InMemoryTransport())
    _use_fully(telemetry)
    assert telemetry.install_id is None and repr(telemetry) == "<Telemetry app='a' disabled>"
