"""Fuzz every query API endpoint over the seeded store, with valid and invalid parameters: never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from .conftest import LiveServer

EXAMPLES = 20
PANEL_PATHS = ["/api/v1/summary", "/api/v1/options", "/api/v1/active_installs", "/api/v1/events", "/api/v1/modes",
               "/api/v1/versions", "/api/v1/platforms", "/api/v1/performance", "/api/v1/model_sizes",
               "/api/v1/uptime", "/api/v1/hardware", "/api/v1/funnel", "/api/v1/retention"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("path", PANEL_PATHS)
def test_no_query_string_makes_the_api_fail(live: LiveServer, path: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    op = next(o.ok() for o in schema.get_all_operations() if o.ok().method.upper() == "GET" and o.ok().path == path)
    if mode is GenerationMode.NEGATIVE and not op.query:
        pytest.skip("no parameters to break")

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        case.call_and_validate(base_url=live.url, checks=[not_a_server_error])

    run()
