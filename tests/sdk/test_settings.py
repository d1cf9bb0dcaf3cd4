"""Settings are resolved once, by `Settings.resolve`: the destination's precedence, the debug rule, the flush
interval, the mode, CI, the model-name policy, the config directory and the opt-out, each with where it came from."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest

import blindai_telemetry
from blindai_telemetry import InMemoryTransport, Telemetry, _config
from blindai_telemetry import environment_variables as ev
from blindai_telemetry._settings import DEFAULT_FLUSH_INTERVAL, Settings

URL = "http://127.0.0.1:9"
ENV_URL = "http://collector.example.org:8787"
ENABLED = _config.UserConfig()


def resolve(arguments: dict[str, Any] | None = None, environ: dict[str, str] | None = None,
            user_config: _config.UserConfig = ENABLED) -> Settings:
    return Settings.resolve(arguments or {}, environ or {}, user_config)


EVERYTHING = {"transport": InMemoryTransport(), "amplitude_api_key": "k", "endpoint": URL}


@pytest.mark.parametrize(("environ", "arguments", "destination", "source"), [
    ({ev.BLINDAI_TELEMETRY_DEBUG: "1", ev.BLINDAI_TELEMETRY_ENDPOINT: ENV_URL}, EVERYTHING, "debug",
     ev.BLINDAI_TELEMETRY_DEBUG),
    ({ev.BLINDAI_TELEMETRY_ENDPOINT: ENV_URL}, EVERYTHING, "transport", "transport="),
    ({ev.BLINDAI_TELEMETRY_ENDPOINT: ENV_URL}, {"amplitude_api_key": "k", "endpoint": URL}, "http",
     ev.BLINDAI_TELEMETRY_ENDPOINT),
    ({}, {"amplitude_api_key": "k", "endpoint": URL}, "amplitude", "amplitude_api_key="),
    ({}, {"endpoint": URL}, "http", "endpoint="),
    ({ev.BLINDAI_TELEMETRY_DEBUG: "0"}, {"endpoint": URL}, "http", "endpoint="),
    ({}, {}, None, None),
])
def test_destination_precedence(environ: dict[str, str], arguments: dict[str, Any], destination: str | None,
                                source: str | None) -> None:
    """debug > transport= > BLINDAI_TELEMETRY_ENDPOINT > amplitude_api_key= > endpoint=."""
    settings = resolve(arguments, environ)
    assert (settings.destination, settings.destination_source) == (destination, source)
    assert (settings.disabled_because is None) == (destination is not None)


def test_the_endpoint_variable_overrides_the_argument_whatever_the_destination() -> None:
    settings = resolve({"endpoint": URL, "transport": InMemoryTransport()}, {ev.BLINDAI_TELEMETRY_ENDPOINT: ENV_URL})
    assert (settings.endpoint, settings.endpoint_source) == (ENV_URL, ev.BLINDAI_TELEMETRY_ENDPOINT)


@pytest.mark.parametrize("value", ["1", "true", "yes", "anything"])
def test_debug_mode_is_on_for_any_value_but_a_false_word(value: str) -> None:
    assert resolve({}, {ev.BLINDAI_TELEMETRY_DEBUG: value}).debug == value


@pytest.mark.parametrize("value", ["", "  ", "0", "false", "No", "OFF"])
def test_debug_mode_is_off_when_blank_or_a_false_word(value: str) -> None:
    settings = resolve({"endpoint": URL}, {ev.BLINDAI_TELEMETRY_DEBUG: value})
    assert settings.debug is None and settings.destination == "http"


@pytest.mark.parametrize(("environ", "arguments"), [
    ({}, {"endpoint": "not a url"}),
    ({}, {"endpoint": "ftp://example.org"}),
    ({}, {"endpoint": 8787}),
    ({ev.BLINDAI_TELEMETRY_ENDPOINT: "localhost:8787"}, {"endpoint": URL}),
    ({ev.BLINDAI_TELEMETRY_ENDPOINT: "/tmp/x"}, {"amplitude_api_key": "k"}),  # the variable wins, even when wrong
])
def test_an_endpoint_that_is_not_a_url_turns_telemetry_off_and_says_why(
        environ: dict[str, str], arguments: dict[str, Any]) -> None:
    settings = resolve(arguments, environ)
    assert settings.destination is None and settings.disabled_because is not None
    assert any("not an http(s) URL" in problem for problem in settings.problems)


@pytest.mark.parametrize(("environ", "user_config", "arguments", "source"), [
    ({ev.DO_NOT_TRACK: "1"}, _config.UserConfig(enabled=True), {"enabled": True}, ev.DO_NOT_TRACK),
    ({ev.BLINDAI_DISABLE_TELEMETRY: ""}, ENABLED, {}, ev.BLINDAI_DISABLE_TELEMETRY),
    ({}, _config.UserConfig(enabled=True), {"enabled": False}, "argument"),
    ({}, _config.UserConfig(enabled=False), {}, "config"),
])
def test_the_opt_out_comes_first_with_its_reason(environ: dict[str, str], user_config: _config.UserConfig,
                                                 arguments: dict[str, Any], source: str) -> None:
    settings = resolve({**arguments, "endpoint": URL}, environ, user_config)
    assert settings.decision.source == source
    assert settings.disabled_because == settings.decision.reason


@pytest.mark.parametrize(("argument", "env", "expected", "problem"), [
    (None, None, DEFAULT_FLUSH_INTERVAL, False), (None, "0.5", 0.5, False), (0.25, "0.5", 0.25, False),
    (None, "soon", DEFAULT_FLUSH_INTERVAL, True), (None, "-1", DEFAULT_FLUSH_INTERVAL, True),
    (None, "nan", DEFAULT_FLUSH_INTERVAL, True), (0, "0.5", 0.5, True), ("2", None, DEFAULT_FLUSH_INTERVAL, True),
    (True, None, DEFAULT_FLUSH_INTERVAL, True),
])
def test_flush_interval_argument_then_environment_then_default(argument: object, env: str | None, expected: float,
                                                               problem: bool) -> None:
    environ = {} if env is None else {ev.BLINDAI_TELEMETRY_FLUSH_INTERVAL: env}
    settings = resolve({"flush_interval": argument} if argument is not None else {}, environ)
    assert settings.flush_interval == expected
    assert bool(settings.problems) == problem


@pytest.mark.parametrize(("dcsv3", "mode", "expected"), [
    (None, "hardware", "hardware"), (None, "simulation", "simulation"), (None, "turbo", None), (None, None, None),
    ("1", "simulation", "dcsv3"), ("", "hardware", "dcsv3"), ("true", None, None), ("0", "hardware", "hardware"),
])
def test_mode(dcsv3: str | None, mode: str | None, expected: str | None) -> None:
    """BLINDAI_AZURE_DCSV3_PATCH makes a server's mode dcsv3 (same rule as the kill switch); clients have none."""
    environ = {} if dcsv3 is None else {ev.BLINDAI_AZURE_DCSV3_PATCH: dcsv3}
    settings = resolve({"mode": mode} if mode is not None else {}, environ)
    assert settings.mode == expected
    assert bool(settings.problems) == (mode == "turbo" and dcsv3 is None)


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, None), ({"CI": "true"}, "CI"), ({"GITHUB_ACTIONS": "1"}, "GITHUB_ACTIONS"), ({"CI": "false"}, None),
    ({"CI": ""}, None),
])
def test_ci_is_named_by_its_variable(environ: dict[str, str], expected: str | None) -> None:
    settings = resolve({}, environ)
    assert settings.ci_variable == expected and settings.is_ci == (expected is not None)


@pytest.mark.parametrize(("policy", "expected"), [("raw", "raw"), ("omitted", "omitted"), ("plaintext", "hashed"),
                                                 (None, "hashed")])
def test_model_name_policy_falls_back_to_hashed(policy: object, expected: str) -> None:
    settings = resolve({"model_names": policy})
    assert settings.model_names == expected
    assert bool(settings.problems) == (expected != policy)


def test_config_dir_argument_then_variable(tmp_path: Path) -> None:
    environ = {ev.BLINDAI_TELEMETRY_CONFIG_DIR: str(tmp_path / "from-env")}
    assert resolve({}, environ).config_dir == tmp_path / "from-env"
    assert resolve({"config_dir": str(tmp_path / "arg")}, environ).config_dir == tmp_path / "arg"


def test_the_user_config_is_read_from_the_resolved_directory_and_nothing_is_written(tmp_path: Path) -> None:
    _config.save_user_config(_config.UserConfig(enabled=False), tmp_path / "off")
    assert Settings.resolve({"config_dir": tmp_path / "off"}, {}).decision.source == "config"
    missing = tmp_path / "never-made"
    assert Settings.resolve({}, {ev.BLINDAI_TELEMETRY_CONFIG_DIR: str(missing)}).decision.source == "default"
    assert not missing.exists()


def test_settings_are_frozen_and_keep_secrets_out_of_their_repr() -> None:
    settings = resolve({"amplitude_api_key": "amp-secret", "write_key": "write-secret"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.flush_interval = 1.0  # type: ignore[misc]
    assert "amp-secret" not in repr(settings) and "write-secret" not in repr(settings)


# --- Telemetry uses them -----------------------------------------------------------------------------------------
def test_telemetry_signature_is_visible_to_inspect() -> None:
    parameters = inspect.signature(Telemetry).parameters
    assert list(parameters)[:4] == ["app", "app_version", "endpoint", "mode"]
    assert {"enabled", "transport", "amplitude_api_key", "write_key", "flush_interval", "model_names",
            "config_dir", "shutdown_timeout"} <= set(parameters)
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    # Type checkers and editors (pyright, mypy) read __init__'s parameters when __new__ takes exactly
    # (*args, **kwargs): any named parameter there would make them show __new__'s instead.
    new = inspect.signature(Telemetry.__new__).parameters.values()
    assert [p.kind for p in new] == [inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_POSITIONAL,
                                     inspect.Parameter.VAR_KEYWORD]


@pytest.mark.parametrize("environ", [{}, {ev.DO_NOT_TRACK: "1"}])
def test_a_wrong_argument_is_a_type_error_whether_enabled_or_not(environ: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(TypeError):
        Telemetry("a", "1", endpont=URL)  # type: ignore[call-arg]


def test_subclass_signature_is_its_own() -> None:
    class Named(Telemetry):
        def __init__(self, app: str, *, version: str = "1", **kwargs: Any) -> None:
            super().__init__(app, version, **kwargs)

    assert list(inspect.signature(Named).parameters) == ["app", "version", "kwargs"]
    telemetry = Named("blindai-server", version="2", transport=InMemoryTransport())
    try:
        assert telemetry.enabled and telemetry.app_version == "2"
    finally:
        telemetry.shutdown(timeout=0.5)


def test_telemetry_holds_what_settings_resolve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Positional endpoint and mode are resolved by name like keywords; the variables apply on top."""
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_ENDPOINT, ENV_URL)
    monkeypatch.setenv(ev.BLINDAI_AZURE_DCSV3_PATCH, "1")
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_FLUSH_INTERVAL, "0.5")
    telemetry = Telemetry("blindai-server", "0.6.3", URL, "hardware", config_dir=tmp_path / "cfg")
    try:
        assert (telemetry.endpoint, telemetry.mode, telemetry.flush_interval) == (ENV_URL, "dcsv3", 0.5)
        assert telemetry.transport.name == "http" and telemetry.config_dir == tmp_path / "cfg"
    finally:
        telemetry.shutdown(timeout=0.5)


def test_a_problem_is_logged_once_by_an_enabled_telemetry_and_not_at_all_by_a_disabled_one(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    Telemetry("a", "1", endpoint="not a url")
    assert caplog.text.count("not an http(s) URL") == 1
    caplog.clear()
    monkeypatch.setenv(ev.DO_NOT_TRACK, "1")
    Telemetry("a", "1", endpoint="not a url", model_names="plaintext")
    assert caplog.text == ""


# --- read in one place ----------------------------------------------------------------------------------------
SETTINGS_VARIABLES = {ev.BLINDAI_TELEMETRY_ENDPOINT, ev.BLINDAI_TELEMETRY_DEBUG, ev.BLINDAI_TELEMETRY_FLUSH_INTERVAL,
                      ev.BLINDAI_AZURE_DCSV3_PATCH, "CI_VARIABLES"}
PACKAGE = Path(blindai_telemetry.__file__).parent


def _named(node: ast.AST) -> set[str]:
    """The settings variables an expression names (`ev.X`, `X` or the literal "X")."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            found.add(sub.attr)
        elif isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            found.add(sub.value)
    return found & SETTINGS_VARIABLES


def _reads(tree: ast.AST) -> set[str]:
    """Variables read from an environment: `<x>.get(V)`, `getenv(V)`, `environ[V]`, `for name in V: ….get(name)`."""
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in ("get", "getenv") and node.args:
                read |= _named(node.args[0])
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if "environ" in ast.unparse(node.value):
                read |= _named(node.slice)
        elif isinstance(node, ast.For) and "get(" in ast.unparse(node):
            read |= _named(node.iter)
    return read


def test_the_settings_variables_are_read_in_one_module_only() -> None:
    """The endpoint variable was read in six places, the debug rule written twice: now `_settings` alone reads them
    (others may set them, as the demo does for its fleet)."""
    readers = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found = _reads(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            readers[str(path.relative_to(PACKAGE))] = found
    assert readers == {"_settings.py": SETTINGS_VARIABLES}
