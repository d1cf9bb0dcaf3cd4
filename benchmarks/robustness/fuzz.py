"""Generated inputs against a live collector, tallied per endpoint like the hostile corpus (`hostile_corpus.Tally`).

- schemathesis over the collector's OpenAPI description: every operation with valid (positive) inputs, and the
  POST operations with invalid (negative) ones — the same run as tests/collector/test_fuzz.py, with a budget;
- Hypothesis over the three wire formats: any JSON document, and near-valid bodies (each field of a plausible
  body sometimes replaced by any JSON value). The Amplitude and original-format strategies are the ones of
  tests/collector/test_format_amplitude_fuzz.py (imported, not copied); the native one is built here the same way.

A call is not stopped at the first failure: every answer is counted, and each one that breaks the contract
(`hostile_corpus.check`: a 5xx, a refusal without a JSON error, a refused batch partly stored) is listed.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from blindai_telemetry import catalogue
from reliability import collector_support
from reliability.hostile_corpus import NOW_MS, Case, Tally, check, events_in

# The wire-format strategies, from a test module of tests/collector (which collector_support put on sys.path).
wire = importlib.import_module("test_format_amplitude_fuzz")
assert collector_support.running  # the import above needs it

_JSON = "application/json"


def _settings(examples: int) -> settings:
    # No shrinking and no example database: every answer is counted, and nothing is written beside the repo.
    return settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                    phases=[Phase.generate])


def schemathesis_run(base_url: str, examples: int, tally: Tally) -> None:
    """Every operation of /openapi.json, positive cases; POST operations negative cases too."""
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    for result in schema.get_all_operations():
        op = result.ok()
        label = f"{op.method.upper()} {op.path}"
        endpoint = op.path if op.method.upper() == "POST" else label
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if op.method.upper() == "POST" else [])
        for mode in modes:
            _schemathesis_one(op.as_strategy(generation_mode=mode), base_url, f"schemathesis {endpoint}",
                              mode.value, examples, tally)


def _schemathesis_one(strategy: st.SearchStrategy[Any], base_url: str, key: str, mode: str, examples: int,
                      tally: Tally) -> None:
    @given(case=strategy)
    @_settings(examples)
    def run(case: Any) -> None:
        response = case.call(base_url=base_url)
        status = response.status_code
        tally.add(key, status)
        if status >= 500:
            tally.problems.append(f"{key} ({mode}): {status} {response.text[:200]}")

    run()


_native_values: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.uuids().map(str), "event": st.sampled_from([*catalogue.EVENTS, "watch_tutorial"]),
    "time": st.integers(min_value=0, max_value=4 * 10**12) | st.just(NOW_MS), "install_id": st.just("fuzz-native"),
    "session_id": st.text(max_size=12), "app": st.just("blindai-server"), "app_version": st.just("0.6.3"),
    "os_name": st.just("Linux"), "arch": st.just("x86_64"), "mode": st.sampled_from(catalogue.MODES),
    "uptime_s": st.floats(min_value=0, max_value=1e6), "cpu_count": st.integers(min_value=0, max_value=512),
    "memory_gb": st.floats(min_value=0, max_value=1024), "is_ci": st.booleans(),
}
_native_properties = st.dictionaries(wire.catalogue_names, wire.scalars, max_size=6)
native_events = st.fixed_dictionaries(
    {"event_id": st.uuids().map(str), "event": st.sampled_from(list(catalogue.EVENTS)), "time": st.just(NOW_MS),
     "install_id": st.just("fuzz-native")},
    optional={**{k: wire.maybe(v) for k, v in _native_values.items() if k not in ("event_id", "event", "time",
                                                                                 "install_id")},
              "properties": wire.maybe(_native_properties)})
native_bodies = st.fixed_dictionaries({"events": st.lists(wire.maybe(native_events), max_size=5)}, optional={
    "schema_version": wire.maybe(st.just(1)), "sent_at": wire.maybe(st.just(NOW_MS)),
    "dropped": wire.maybe(st.dictionaries(st.sampled_from(["queue_full", "unknown_property", "x"]), wire.scalars))})

#: Per ingestion endpoint: (name, strategy of bodies).
STRATEGIES: dict[str, list[tuple[str, st.SearchStrategy[Any]]]] = {
    "/v1/batch": [("any JSON", wire.json_values), ("near-valid", native_bodies)],
    "/2/httpapi": [("any JSON", wire.json_values), ("near-valid", wire.amplitude_bodies),
                   ("plausible", wire.valid_amplitude_bodies)],
    "/blindai": [("any JSON", wire.json_values), ("near-valid", st.lists(wire.maybe(wire.events), max_size=5)),
                 ("plausible", st.lists(wire.original_events, max_size=5))],
}


def _fresh(body: Any) -> Any:
    """Fresh event ids, so that an accepted body adds rows rather than duplicates (and rows can be counted)."""
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        for event in body["events"]:
            if isinstance(event, dict) and isinstance(event.get("event_id"), str):
                event["event_id"] = str(uuid.uuid4())
    return body


def hypothesis_run(http: httpx.Client, examples: int, count_rows: Callable[[], int], tally: Tally) -> None:
    """POST generated bodies to each ingestion endpoint; check each answer like a hostile-corpus case."""
    for endpoint, strategies in STRATEGIES.items():
        for name, strategy in strategies:
            _hypothesis_one(http, endpoint, name, strategy, examples, count_rows, tally)


def _hypothesis_one(http: httpx.Client, endpoint: str, name: str, strategy: st.SearchStrategy[Any], examples: int,
                    count_rows: Callable[[], int], tally: Tally) -> None:
    key = f"hypothesis {endpoint}"

    @given(body=strategy)
    @_settings(examples)
    def run(body: Any) -> None:
        data = json.dumps(_fresh(body), allow_nan=True).encode()
        case = Case(f"{name}", endpoint, "POST", endpoint, lambda: data, max_rows=events_in(endpoint, body))
        before = count_rows()
        try:
            response = http.post(endpoint, content=data, headers={"Content-Type": _JSON})
        except httpx.HTTPError as exc:
            tally.add(key, 599)
            tally.problems.append(f"{key} {name}: no answer ({type(exc).__name__})")
            return
        tally.add(key, response.status_code)
        tally.problems += [f"{key} {name}: {p} — body {data[:200]!r}"
                           for p in check(case, response, count_rows() - before)]

    run()
