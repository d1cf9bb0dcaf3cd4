"""`blindai-telemetry status` explains whether telemetry is on, why, and what it has done, without writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blindai_telemetry import _config, _files
from blindai_telemetry import environment_variables as ev

from ._helpers import Invoke

OPT_OUT_VARIABLES = [ev.BLINDAI_DISABLE_TELEMETRY, ev.DO_NOT_TRACK]


def status_json(invoke: Invoke) -> dict[str, object]:
    data = json.loads(invoke("status", "--json").stdout)
    assert isinstance(data, dict)
    return data


def test_default_is_enabled_and_says_how_to_turn_it_off(invoke: Invoke, clean_telemetry_env: Path) -> None:
    out = invoke("status").stdout
    assert "enabled by default" in out
    assert "blindai-telemetry disable" in out and "BLINDAI_DISABLE_TELEMETRY=1" in out
    assert str(clean_telemetry_env / "config.json") in out
    assert "Last batch:  never" in out


@pytest.mark.parametrize("variable", OPT_OUT_VARIABLES)
@pytest.mark.parametrize("value", ["", "1", "yes", "true", "anything"])
def test_each_opt_out_variable_and_value_disables_and_is_named(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    data = status_json(invoke)
    assert data["enabled"] is False and data["source"] == variable
    out = invoke("status").stdout
    assert "disabled" in out and f"{variable}={value!r}" in out and f"unset {variable}" in out


@pytest.mark.parametrize("variable", OPT_OUT_VARIABLES)
@pytest.mark.parametrize("value", ["0", "false", "FALSE", "no", "off", " Off "])
def test_false_words_do_not_disable_and_status_says_so(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    data = status_json(invoke)
    assert data["enabled"] is True and data["source"] == "default"
    assert f"{variable}={value!r} does not disable" in invoke("status").stdout


def test_second_variable_is_mentioned_when_both_disable(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ev.BLINDAI_DISABLE_TELEMETRY, "1")
    monkeypatch.setenv(ev.DO_NOT_TRACK, "1")
    out = invoke("status").stdout
    assert "BLINDAI_DISABLE_TELEMETRY='1' is set" in out and "DO_NOT_TRACK='1' also disables" in out


def test_config_file_setting_is_the_reason(invoke: Invoke) -> None:
    invoke("disable")
    data = status_json(invoke)
    assert (data["enabled"], data["source"], data["config_setting"]) == (False, "config", False)
    assert "blindai-telemetry enable" in invoke("status").stdout


def test_ci_is_reported_with_its_variable(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert status_json(invoke)["ci_variable"] == "GITHUB_ACTIONS"
    assert "Running in CI (GITHUB_ACTIONS is set): events are tagged is_ci" in invoke("status").stdout


def test_disabled_status_creates_no_file(invoke: Invoke, monkeypatch: pytest.MonkeyPatch,
                                         clean_telemetry_env: Path) -> None:
    monkeypatch.setenv(ev.DO_NOT_TRACK, "1")
    data = status_json(invoke)
    assert data["install_id"] is None
    assert "none is created while disabled" in invoke("status").stdout
    assert not clean_telemetry_env.exists()


def test_status_does_not_create_an_install_id_even_when_enabled(invoke: Invoke, clean_telemetry_env: Path) -> None:
    assert status_json(invoke)["install_id"] is None
    assert not clean_telemetry_env.exists()


def test_shows_install_id_state_endpoint_and_debug(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    install_id, _ = _config.get_or_create_install_id()
    _files.write_json_atomic(_config.config_dir() / "delivery.json",
                               {"last_sent_at": 1_764_323_400_123, "lost": 7, "sent": 3})
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_ENDPOINT, "http://127.0.0.1:9/collector")
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_DEBUG, "1")
    data = status_json(invoke)
    assert data["install_id"] == install_id
    assert (data["last_sent_at"], data["dropped_total"]) == (1_764_323_400_123, 7)
    assert (data["endpoint"], data["endpoint_source"]) == ("http://127.0.0.1:9/collector", "BLINDAI_TELEMETRY_ENDPOINT")
    assert data["debug"] == "1"
    out = invoke("status").stdout
    assert install_id in out and "2025-11-28 09:50:00 UTC" in out and "3 event(s) sent, 7 lost for good" in out
    assert "http://127.0.0.1:9/collector (from BLINDAI_TELEMETRY_ENDPOINT)" in out
    assert "Debug mode:  on" in out and "nothing is sent" in out


def test_an_endpoint_variable_that_is_not_a_url_is_reported_as_a_problem(
        invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """status resolves settings as the SDK does: an application here would send nothing, and status says why."""
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_ENDPOINT, "collector:8787")
    data = status_json(invoke)
    assert data["endpoint"] is None and data["endpoint_source"] == ev.BLINDAI_TELEMETRY_ENDPOINT
    problem = f"the endpoint ({ev.BLINDAI_TELEMETRY_ENDPOINT}) is not an http(s) URL; telemetry is off"
    assert data["problems"] == [problem]
    assert f"Problem:     {problem}" in invoke("status").stdout


def test_debug_off_words_are_not_debug_mode(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rule as the SDK (one function): blank or a false word leaves debug mode off."""
    for value in ("", " ", "0", "off"):
        monkeypatch.setenv(ev.BLINDAI_TELEMETRY_DEBUG, value)
        assert status_json(invoke)["debug"] is None
        assert "Debug mode" not in invoke("status").stdout
