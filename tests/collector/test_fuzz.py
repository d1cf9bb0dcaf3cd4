"""Fuzz every endpoint of the OpenAPI description (schemathesis, valid and invalid bodies): never a 5xx.

Schemathesis's pytest plugin does not run under this pytest version, so its strategies are driven by
Hypothesis directly: one bounded run per operation and generation mode, against a live collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from collector_helpers import Collector, running
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from blindai_telemetry.collector.app import create_app
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores import DuckDBStore, InMemoryStore

EXAMPLES = 25


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, Any]]:
    # A real collector on a real DuckDB file, its writer running, so valid batches really reach the store.
    store = DuckDBStore(tmp_path_factory.mktemp("fuzz") / "t.duckdb")
    try:
        with running(store, CollectorSettings(retention_days=0)) as c:
            yield c, schemathesis.openapi.from_url(c.url + "/openapi.json")
    finally:
        store.close()


def _operations() -> list[str]:
    description = create_app(CollectorSettings(), InMemoryStore()).openapi()  # no server needed to list them
    return sorted(f"{method.upper()} {path}" for path, item in description["paths"].items() for method in item)


OPERATIONS = _operations()


def test_the_ingestion_and_deletion_bodies_are_described() -> None:
    assert {"POST /v1/batch", "POST /2/httpapi", "POST /blindai", "POST /v1/deletions"} <= set(OPERATIONS)


# Invalid cases exist only where there is a body (or parameters) to break: the POST endpoints.
CASES = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (op, GenerationMode.NEGATIVE) for op in OPERATIONS if op.startswith("POST ")]


@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_no_input_makes_the_collector_fail(live: tuple[Collector, Any], operation: str, mode: GenerationMode) -> None:
    collector, schema = live
    method, path = operation.split(" ", 1)
    op = next(o.ok() for o in schema.get_all_operations()
              if o.ok().method.upper() == method and o.ok().path == path)

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        case.call_and_validate(base_url=collector.url, checks=[not_a_server_error])

    run()
