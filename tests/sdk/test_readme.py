"""The README's "Using it" snippet, run as written against a real HTTP receiver: a server that copies it reports a
mode (without `mode=` a `blindai-server` shows as a client on the dashboard)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blindai_telemetry import Telemetry, catalogue
from blindai_telemetry import environment_variables as ev
from sdk.sinks import Sink

README = Path(__file__).resolve().parents[2] / "README.md"


def using_it_snippet() -> str:
    section = README.read_text(encoding="utf-8").split("## Using it", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README's 'Using it' section has no python block"
    return match.group(1)


def test_the_readme_snippet_reports_a_server_with_its_mode(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_ENDPOINT, sink.url)  # the documented override of its endpoint
    namespace: dict[str, object] = {}
    exec(compile(using_it_snippet(), str(README), "exec"), namespace)
    telemetry = namespace["telemetry"]
    assert isinstance(telemetry, Telemetry)
    try:
        assert telemetry.flush(timeout=10.0)
    finally:
        telemetry.shutdown(timeout=1.0)
    (event,) = sink.events()
    assert event["app"] == "blindai-server" and event["mode"] in catalogue.MODES
