"""Whatever JSON a caller sends to run a model, the server answers 200 or a clean 4xx and tracks the outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blindai_telemetry.catalogue import ERROR_KINDS
from blindai_telemetry.reference.models import identity_model

Start = Callable[..., Any]

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=5))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                     max_leaves=20)
_rows = st.lists(st.one_of(st.floats(width=32), st.integers(-(2**70), 2**70), st.floats()), min_size=8, max_size=8)
_bodies = st.one_of(
    _json,
    st.fixed_dictionaries({"inputs": _json}),
    st.fixed_dictionaries({"inputs": st.fixed_dictionaries({"x": st.lists(_rows, max_size=3)})}),
    st.fixed_dictionaries({"inputs": st.lists(_json, max_size=2), "output_format": st.sampled_from(["json", "npy"])}),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_any_json_body_gets_200_or_a_clean_4xx_and_is_tracked(start_server: Start, body: Any) -> None:
    server = _server(start_server)
    before = len(server.events("model_run"))
    # json.dumps writes NaN and Infinity as bare words, as a careless client might
    response = httpx.post(f"{server.url}/models/{server.model_id}/run", content=json.dumps(body).encode(),
                          timeout=10.0, trust_env=False)
    runs = server.events("model_run")
    assert len(runs) == before + 1
    props = runs[-1]["properties"]
    if response.status_code == 200:
        assert props["ok"] is True and "outputs" in response.json()
    else:
        assert response.status_code in (400, 413), response.text
        assert props["ok"] is False and props["error_kind"] == response.json()["error"] in ERROR_KINDS


_started: dict[int, Any] = {}


def _server(start_server: Start) -> Any:
    """One server for all the examples of a test run (starting one per example would dominate the run time)."""
    key = id(start_server)
    if key not in _started:
        _started.clear()
        server = start_server()
        # The identity model: outputs are the inputs, so any value that gets in reaches the response encoder.
        response = httpx.post(f"{server.url}/models", content=identity_model(), trust_env=False)
        server.model_id = response.json()["model_id"]
        _started[key] = server
    return _started[key]
