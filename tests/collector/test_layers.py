"""Layers: the dashboard sits beside the collector, not above or below it; what both need lives below both."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded_after(module: str) -> list[str]:
    """The blindai_telemetry modules a fresh interpreter holds after importing `module`."""
    code = (f"import sys, json, {module}\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('blindai_telemetry'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_importing_the_dashboard_imports_nothing_of_the_collector() -> None:
    loaded = _loaded_after("blindai_telemetry.dashboard.api")
    assert "blindai_telemetry.service.auth" in loaded  # the check is live: the dashboard does need access control
    assert [m for m in loaded if m.startswith("blindai_telemetry.collector")] == []


@pytest.mark.parametrize("module", ["blindai_telemetry.service.auth"])
def test_the_shared_layer_imports_neither_the_collector_nor_the_dashboard(module: str) -> None:
    above = ("blindai_telemetry.collector", "blindai_telemetry.dashboard")
    assert [m for m in _loaded_after(module) if m.startswith(above)] == []
