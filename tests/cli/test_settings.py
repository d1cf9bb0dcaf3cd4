"""`enable` / `disable` persist the user's choice in config.json; an environment kill switch still wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from blindai_telemetry import _config
from blindai_telemetry import environment_variables as ev
from blindai_telemetry.privacy import telemetry_decision

from ._helpers import Invoke, read_json


def test_disable_persists_and_decides(invoke: Invoke, config_file: Path) -> None:
    out = invoke("disable").stdout
    assert "Telemetry disabled" in out
    assert read_json(config_file)["enabled"] is False
    assert telemetry_decision().enabled is False


def test_enable_after_disable_persists(invoke: Invoke, config_file: Path) -> None:
    invoke("disable")
    invoke("enable")
    assert read_json(config_file)["enabled"] is True
    decision = telemetry_decision()
    assert (decision.enabled, decision.source) == (True, "config")


def test_disable_keeps_the_install_id(invoke: Invoke) -> None:
    install_id, _ = _config.get_or_create_install_id()
    invoke("disable")
    assert _config.load_user_config().install_id == install_id


def test_disable_does_not_create_an_install_id(invoke: Invoke, config_file: Path) -> None:
    invoke("disable")
    assert read_json(config_file)["install_id"] is None


@pytest.mark.parametrize("variable", [ev.BLINDAI_DISABLE_TELEMETRY, ev.DO_NOT_TRACK])
def test_enable_warns_when_the_environment_still_disables(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, config_file: Path, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    result = invoke("enable")
    assert read_json(config_file)["enabled"] is True  # saved for when the variable goes away
    assert "stays disabled" in result.stderr and f"Unset {variable}" in result.stderr
    assert telemetry_decision().enabled is False


def test_unwritable_config_dir_is_an_error(invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_CONFIG_DIR, str(blocker / "sub"))
    result = invoke("disable", expect=1)
    assert "Could not write" in result.stderr and "BLINDAI_DISABLE_TELEMETRY=1" in result.stderr
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_CONFIG_DIR, str(tmp_path / "telemetry-config"))
