"""`blindai_telemetry.privacy` is the one public home of the scrubber, the model-name policy and the opt-out
decision: pinned, documented, and what the SDK and the collector both import."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import blindai_telemetry
from blindai_telemetry import _config, privacy
from blindai_telemetry import environment_variables as ev

PACKAGE = Path(blindai_telemetry.__file__).parent


def test_the_public_surface_is_pinned_and_documented() -> None:
    assert set(privacy.__all__) == {
        "CONTROL_CHARACTERS", "ID_PATTERNS", "MODEL_NAME_POLICIES", "PUBLIC_MODEL_NAMES", "REDACTED", "Decision",
        "Scrubber", "hash_model_name", "hashed_model_name", "model_name_for", "normalise_model_name",
        "telemetry_decision",
    }
    assert privacy.__doc__ and "blindai-telemetry catalogue" in privacy.__doc__
    for name in privacy.__all__:
        value = getattr(privacy, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), name


def _imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def _private(module: str) -> bool:
    """`blindai_telemetry._x...`: a private module of the SDK itself (not `__version__`, not `stores._rows`)."""
    top = module.split(".")[1]
    return top.startswith("_") and not top.startswith("__")


# The demo resolves the SDK's settings like the user commands do (`_settings`); neither it nor `report` reaches
# into the filter or the config files, and the collector's side into nothing private of the SDK.
@pytest.mark.parametrize(("part", "allowed"), [
    ("collector", set()), ("stores", set()), ("dashboard", set()), ("cli/report.py", set()),
    ("cli/demo.py", {"blindai_telemetry._settings", "blindai_telemetry._settings.Settings"}),
])
def test_the_collector_side_imports_no_private_sdk_module(part: str, allowed: set[str]) -> None:
    root = PACKAGE / part
    for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
        private = {m for m in _imports(path) if m.startswith("blindai_telemetry.") and _private(m)}
        assert private <= allowed, f"{path.relative_to(PACKAGE)} imports {private - allowed}"


def test_the_model_name_policy_is_written_once() -> None:
    """Only `privacy` reads the list of public names or normalises a name; the SDK's filter and the collector's
    decoder of old servers call its functions."""
    users = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
             if {"PUBLIC_MODEL_NAMES", "normalise_model_name"} & {
                 getattr(node, "id", getattr(node, "attr", None)) for node in ast.walk(ast.parse(path.read_text()))}}
    assert users == {"privacy.py"}
    assert "blindai_telemetry.privacy.model_name_for" in _imports(PACKAGE / "_filter.py")
    assert "blindai_telemetry.privacy.hashed_model_name" in _imports(PACKAGE / "collector/formats/blindai.py")


@pytest.mark.parametrize(("name", "expected"), [
    ("ResNet50", "resnet50"), ("bert_base_uncased", "bert-base-uncased"), ("yolov5.onnx", "yolov5"),
])
def test_hashed_policy_passes_public_names_normalised(name: str, expected: str) -> None:
    assert privacy.hashed_model_name("key", name) == expected


def test_hashed_policy_hashes_other_names_under_the_key() -> None:
    hashed = privacy.hashed_model_name("key", "acme-fraud-detector")
    assert hashed == privacy.hash_model_name("key", "acme-fraud-detector") != privacy.hashed_model_name(
        "other key", "acme-fraud-detector")
    assert hashed.startswith("h:") and "acme" not in hashed


def test_model_name_for_each_policy() -> None:
    scrubber = privacy.Scrubber(host_name="", user_name="")
    name = "/srv/acme/fraud.onnx"
    assert privacy.model_name_for(name, policy="omitted", key="k", scrubber=scrubber) is None
    assert privacy.model_name_for(name, policy="raw", key="k", scrubber=scrubber) == privacy.REDACTED
    assert privacy.model_name_for(name, policy="hashed", key="k", scrubber=scrubber) == privacy.hash_model_name(
        "k", name)
    with pytest.raises(ValueError):
        privacy.model_name_for(name, policy="plaintext", key="k", scrubber=scrubber)


def test_decision_order_kill_switch_argument_config_default() -> None:
    on, off = _config.UserConfig(enabled=True), _config.UserConfig(enabled=False)
    assert privacy.telemetry_decision({ev.DO_NOT_TRACK: "yes"}, on, argument=True).source == ev.DO_NOT_TRACK
    assert privacy.telemetry_decision({}, on, argument=False).source == "argument"
    assert privacy.telemetry_decision({}, off).source == "config"
    assert privacy.telemetry_decision({}, on).source == "config"
    decision = privacy.telemetry_decision({ev.BLINDAI_DISABLE_TELEMETRY: "0"}, _config.UserConfig())
    assert (decision.enabled, decision.source) == (True, "default")
