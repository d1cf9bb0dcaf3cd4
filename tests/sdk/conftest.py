"""SDK test fixtures: real HTTP sinks on 127.0.0.1, and every Telemetry made by a test shut down after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from blindai_telemetry import Telemetry
from sdk.sinks import Sink, http_sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    with http_sink() as s:
        yield s


@pytest.fixture
def make_telemetry() -> Iterator[Callable[..., Telemetry]]:
    """Build Telemetry objects (app "blindai-server", fast flush) and shut them all down at the end."""
    made: list[Telemetry] = []

    def make(**kwargs: Any) -> Telemetry:
        kwargs.setdefault("app", "blindai-server")
        kwargs.setdefault("app_version", "0.6.3")
        kwargs.setdefault("flush_interval", 0.05)
        telemetry = Telemetry(**kwargs)
        made.append(telemetry)
        return telemetry

    yield make
    for telemetry in made:
        telemetry.shutdown(timeout=0.5)
