"""The hostile corpus against a real collector (uvicorn in a thread) over a real DuckDB file: never a 5xx,
every refusal a JSON error naming the problem, nothing of a refused batch stored, and the events accepted
before the corpus still there after it. `python -m benchmarks.robustness` prints the same counts.

Curated single cases with exact messages: tests/collector/test_bad_input.py. Generated inputs over the OpenAPI
description: tests/collector/test_fuzz.py (schemathesis) and the decoders' Hypothesis fuzz
(tests/collector/test_format_amplitude_fuzz.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores import DuckDBStore
from reliability import hostile_corpus
from reliability.collector_support import Collector, running

pytestmark = pytest.mark.slow
CASES = hostile_corpus.corpus()
#: The corpus must stay large: a refactoring that silently drops a family of cases fails here.
MIN_CASES_PER_ENDPOINT = {"/v1/batch": 800, "/2/httpapi": 700, "/blindai": 500, "/v1/deletions": 100,
                          "GET /v1/deletions/{id}": 20}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    store = DuckDBStore(tmp_path_factory.mktemp("hostile") / "t.duckdb")
    try:
        with running(store, CollectorSettings(retention_days=0)) as collector:
            yield collector
    finally:
        store.close()


def _count(collector: Collector) -> int:
    return int(collector.store.fetch("SELECT count(*) AS n FROM events")[0]["n"])


def test_the_corpus_covers_every_endpoint_with_hundreds_of_cases() -> None:
    per_endpoint = {e: sum(c.endpoint == e for c in CASES) for e in hostile_corpus.ENDPOINTS}
    print(f"\nhostile corpus: {len(CASES)} cases: {per_endpoint}")
    for endpoint, floor in MIN_CASES_PER_ENDPOINT.items():
        assert per_endpoint[endpoint] >= floor, per_endpoint
    assert len({(c.endpoint, c.name) for c in CASES}) == len(CASES), "case names must be unique per endpoint"


def test_no_hostile_input_breaks_the_collector_or_reaches_the_store(live: Collector) -> None:
    with live.client() as http:
        # Accepted before the corpus: one valid body of each ingestion format.
        before = {path: hostile_corpus.BODIES[path]() for path in ("/v1/batch", "/2/httpapi", "/blindai")}
        for path, body in before.items():
            assert http.post(path, json=body).status_code == 200
        kept = _count(live)
        assert kept == 3

        tally = hostile_corpus.run(http, CASES, lambda: _count(live))

        # Unharmed: a valid body of each format still goes through.
        for path in ("/v1/batch", "/2/httpapi", "/blindai"):
            assert http.post(path, json=hostile_corpus.BODIES[path]()).status_code == 200
        assert http.get("/healthz").status_code == 200
    print(f"\nhostile corpus: {sum(tally.tried.values())} cases tried: {tally.by_class}")
    assert tally.problems == [], "\n".join(tally.problems[:50])
    assert sum(c["5xx"] + c["other"] for c in tally.by_class.values()) == 0
    assert sum(tally.tried.values()) == len(CASES)
    # Both outcomes were exercised: refusals and values dropped while the rest of the event was kept.
    assert all(tally.by_class[e]["4xx"] > 0 for e in hostile_corpus.ENDPOINTS)
    assert all(tally.by_class[e]["2xx"] > 0 for e in ("/v1/batch", "/2/httpapi", "/blindai", "/v1/deletions"))

    rows = live.store.fetch("SELECT install_id, source FROM events")
    for source, install in (("native", "hostile-native"), ("amplitude", "hostile-amplitude"),
                            ("blindai", "1A2B3C4D5E6F")):
        assert {"install_id": install, "source": source} in rows, f"the {source} event sent first is gone"
