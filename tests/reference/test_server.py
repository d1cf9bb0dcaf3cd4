"""The reference server: upload/run/delete through onnxruntime, limits as clean 4xx, and what it tracks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from blindai_telemetry import Telemetry
from blindai_telemetry.catalogue import ERROR_KINDS, allowed_properties
from blindai_telemetry.reference import client as client_module
from blindai_telemetry.reference.client import ServerError, connect
from blindai_telemetry.reference.models import conv_model, identity_model, linear_model, sample_input
from blindai_telemetry.reference.server import CLIENT_HEADER, ServerLimits

#: The `start_server` fixture: start(limits=None, mode="simulation") -> RunningServer (see conftest.py).
Start = Callable[..., Any]


def _linear_reference(x: np.ndarray) -> np.ndarray:
    """What the linear model must compute, from its own initializers: relu(x @ W + b)."""
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(linear_model()).graph.initializer}
    return np.maximum(x @ weights["W"] + weights["b"], 0)


def test_upload_run_delete_round_trip_computes_through_onnxruntime(start_server: Start, client_tel: Telemetry) -> None:
    server = start_server()
    x = sample_input("linear", batch=5, seed=3)
    with connect(server.url, telemetry=client_tel) as client:
        model_id = client.upload_model(linear_model(), name="resnet50")
        outputs = client.run_model(model_id, {"x": x})
        client.delete_model(model_id)
        with pytest.raises(ServerError) as gone:
            client.run_model(model_id, x)
    assert gone.value.status == 404 and gone.value.kind == "model_not_found"
    np.testing.assert_allclose(outputs["y"], _linear_reference(x), rtol=1e-5, atol=1e-6)
    assert outputs["y"].dtype == np.float32


def test_each_request_is_tracked_with_the_catalogue_fields(start_server: Start, client_tel: Telemetry) -> None:
    server = start_server()
    model = conv_model()
    x = sample_input("conv", batch=2)
    with connect(server.url, telemetry=client_tel) as client:
        model_id = client.upload_model(model, name="resnet50")
        client.run_model(model_id, x)
        client.delete_model(model_id)
    events = server.events()
    assert [e["event"] for e in events] == ["server_started", "model_uploaded", "model_run", "model_deleted"]
    started, uploaded, run, deleted = events
    assert started["app"] == "blindai-server" and started["mode"] == "simulation" and started["app_version"] == "0.6.3"
    assert uploaded["properties"]["model_size_bytes"] == len(model)
    assert uploaded["properties"]["ok"] is True and "error_kind" not in uploaded["properties"]
    assert run["properties"]["input_bytes"] == x.nbytes
    assert run["properties"]["duration_ms"] > 0 and uploaded["properties"]["duration_ms"] > 0
    for event in (uploaded, run, deleted):
        assert event["properties"]["model_name"] == "resnet50"  # a public architecture passes as it is
        assert set(event["properties"]) <= allowed_properties(event["event"])


def test_request_events_carry_the_calling_clients_facts(start_server: Start, client_tel: Telemetry) -> None:
    server = start_server()
    with connect(server.url, telemetry=client_tel) as client:
        model_id = client.upload_model(identity_model(), name="gpt2")
        client.run_model(model_id, sample_input("identity"))
        client.delete_model(model_id)
    info = client_tel.client_info()
    request_events = [e for e in server.events() if e["event"] != "server_started"]
    assert len(request_events) == 3
    for event in request_events:
        props = event["properties"]
        assert props["client_install_id"] == client_tel.install_id != event["install_id"]
        assert props["client_app_version"] == "0.6.2"
        assert props["client_os_name"] == info.os_name and props["client_arch"] == info.arch
        assert props["client_user_agent"] == info.user_agent


def test_private_model_names_reach_telemetry_hashed(start_server: Start, client_tel: Telemetry) -> None:
    server = start_server()
    with connect(server.url, telemetry=client_tel) as client:
        client.upload_model(identity_model(), name="acme-fraud-detector")
    (uploaded,) = server.events("model_uploaded")
    assert uploaded["properties"]["model_name"] != "acme-fraud-detector"
    assert "acme" not in json.dumps(server.transport.payloads)


def _post(url: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url + path, timeout=10.0, trust_env=False, **kwargs)


def _upload(server: Any, model: bytes, name: str = "mobilenetv2") -> str:
    response = _post(server.url, "/models", params={"name": name}, content=model)
    assert response.status_code == 201, response.text
    return str(response.json()["model_id"])


@pytest.mark.parametrize("inputs", [{"x": [[1, 2, 3, 4]]}, [[[1, 2, 3, 4]]]], ids=["by-name", "positional"])
def test_json_list_inputs_are_cast_to_the_models_input_type(start_server: Start, inputs: Any) -> None:
    server = start_server()
    model_id = _upload(server, linear_model())
    response = _post(server.url, f"/models/{model_id}/run", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    expected = _linear_reference(np.array([[1, 2, 3, 4]], dtype=np.float32))
    np.testing.assert_allclose(response.json()["outputs"]["y"], expected, rtol=1e-5, atol=1e-6)


# (what is sent, expected status, expected error_kind)
BAD_RUNS = [
    pytest.param({"inputs": {"x": [[1.0, 2.0]]}}, 400, "invalid_input", id="wrong-shape"),
    pytest.param({"inputs": {"y": [[1.0, 2.0, 3.0, 4.0]]}}, 400, "invalid_input", id="missing-input"),
    pytest.param({"inputs": {"x": [[1.0, "a", 3.0, 4.0]]}}, 400, "invalid_input", id="not-numbers"),
    pytest.param({"inputs": {"x": [[1.0], [1.0, 2.0]]}}, 400, "invalid_input", id="ragged"),
    pytest.param({"inputs": {"x": {"npy": "%%%"}}}, 400, "invalid_input", id="bad-npy"),
    pytest.param({"inputs": "x"}, 400, "invalid_input", id="inputs-not-a-collection"),
    pytest.param({"inputs": {"x": [[float("nan"), 1.0, 2.0, 3.0]]}}, 400, "invalid_input", id="nan-is-not-json"),
    pytest.param({"inputs": {"x": [[1e40, 1.0, 2.0, 3.0]]}}, 400, "invalid_input", id="overflows-float32"),
    pytest.param({"inputs": [[[1.0, 2.0, 3.0, 4.0]]], "output_format": "xml"}, 400, "invalid_input", id="format"),
]


@pytest.mark.parametrize(("body", "status", "kind"), BAD_RUNS)
def test_bad_inputs_fail_cleanly_and_are_tracked_as_failures(
    start_server: Start, body: Any, status: int, kind: str
) -> None:
    server = start_server()
    model_id = _upload(server, linear_model())
    # json.dumps, not httpx's json=: it writes NaN as a bare word, as a careless client would
    response = _post(server.url, f"/models/{model_id}/run", content=json.dumps(body).encode())
    assert (response.status_code, response.json()["error"]) == (status, kind)
    (run,) = server.events("model_run")
    assert run["properties"]["ok"] is False and run["properties"]["error_kind"] == kind
    assert run["properties"]["model_name"] == "mobilenetv2"


def test_a_body_that_is_not_json_is_invalid_input(start_server: Start) -> None:
    server = start_server()
    model_id = _upload(server, linear_model())
    response = _post(server.url, f"/models/{model_id}/run", content=b"\x00not json")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_input")


def test_failures_are_tracked_with_one_word_never_a_message(start_server: Start) -> None:
    """Invalid model, unknown model id and oversized bodies: 4xx for the caller, ok=False + error_kind in
    telemetry, and nothing of the exception text or the payload in any tracked event."""
    server = start_server(ServerLimits(max_model_bytes=2_000, max_input_bytes=500))
    assert _post(server.url, "/models", params={"name": "x"}, content=b"secret-model-bytes").status_code == 400
    assert _post(server.url, "/models", content=b"\x00" * 2_001).status_code == 413
    assert _post(server.url, "/models/nope/run", json={"inputs": []}).status_code == 404
    model_id = _upload(server, identity_model())
    huge = {"inputs": {"x": [[0.5] * 8] * 40}}
    too_large = _post(server.url, f"/models/{model_id}/run", json=huge)
    assert (too_large.status_code, too_large.json()["error"]) == (413, "too_large")
    assert httpx.delete(f"{server.url}/models/nope", trust_env=False).status_code == 404

    failures = [e for e in server.events() if e["properties"].get("ok") is False]
    assert [(e["event"], e["properties"]["error_kind"]) for e in failures] == [
        ("model_uploaded", "invalid_model"), ("model_uploaded", "too_large"), ("model_run", "model_not_found"),
        ("model_run", "too_large"),
    ]
    assert {e["properties"]["error_kind"] for e in failures} <= set(ERROR_KINDS)
    sent = json.dumps(server.transport.payloads)
    for fragment in ("secret-model-bytes", "onnxruntime", "limit of", "ONNX"):
        assert fragment not in sent


def test_the_model_count_limit_refuses_one_more_upload(start_server: Start) -> None:
    server = start_server(ServerLimits(max_models=2))
    _upload(server, identity_model())
    _upload(server, identity_model())
    refused = _post(server.url, "/models", content=identity_model())
    assert (refused.status_code, refused.json()["error"]) == (413, "too_large")


@pytest.mark.parametrize("header", ["not json", "[1, 2]", json.dumps({"install_id": 5, "hostname": "box"}),
                                    "{" + " " * 5000 + "}"], ids=["not-json", "list", "junk-keys", "oversized"])
def test_junk_client_headers_are_ignored_and_the_request_still_served(start_server: Start, header: str) -> None:
    server = start_server()
    response = _post(server.url, "/models", params={"name": "gpt2"}, content=identity_model(),
                     headers={CLIENT_HEADER: header})
    assert response.status_code == 201
    (uploaded,) = server.events("model_uploaded")
    assert not [k for k in uploaded["properties"] if k.startswith("client_")]
    assert "box" not in json.dumps(server.transport.payloads)


def test_server_stopped_is_tracked_when_the_server_shuts_down(start_server: Start) -> None:
    server = start_server(mode="hardware")
    assert server.http.stop()
    events = server.events()
    assert [e["event"] for e in events] == ["server_started", "server_stopped"]
    assert events[1]["mode"] == "hardware" and events[1]["uptime_s"] >= events[0]["uptime_s"]


def test_info_reports_mode_and_version(start_server: Start) -> None:
    server = start_server(mode="dcsv3")
    info = httpx.get(server.url + "/", trust_env=False).json()
    assert info == {"server": "blindai-reference", "version": "0.6.3", "mode": "dcsv3"}


def test_inference_runs_off_the_event_loop(start_server: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    """While one inference is stuck in the worker pool, the server still answers other requests."""
    from blindai_telemetry.reference import inference

    entered, release = threading.Event(), threading.Event()
    real_run = inference.run

    def held_run(*args: Any) -> Any:
        entered.set()
        release.wait(10.0)
        return real_run(*args)

    monkeypatch.setattr(inference, "run", held_run)
    server = start_server()
    model_id = _upload(server, identity_model())
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(
        _post(server.url, f"/models/{model_id}/run", json={"inputs": [[[0.0] * 8]]}).status_code))
    worker.start()
    try:
        assert entered.wait(10.0)
        assert httpx.get(server.url + "/healthz", timeout=2.0, trust_env=False).json() == {"ok": True}
    finally:
        release.set()
        worker.join(10.0)
    assert results == [200]


def test_an_unexpected_error_is_answered_and_tracked_as_internal(
    start_server: Start, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug inside inference: a clean 500 for the caller, `internal` in telemetry, the text in the server log only."""
    from blindai_telemetry.reference import inference

    def broken_run(*args: Any) -> Any:
        raise RuntimeError("boom with user data 4242")

    monkeypatch.setattr(inference, "run", broken_run)
    server = start_server()
    model_id = _upload(server, identity_model())
    response = _post(server.url, f"/models/{model_id}/run", json={"inputs": [[[0.0] * 8]]})
    assert (response.status_code, response.json()["error"]) == (500, "internal")
    assert "4242" not in response.text
    (run,) = server.events("model_run")
    assert (run["properties"]["ok"], run["properties"]["error_kind"]) == (False, "internal")
    assert "4242" not in json.dumps(server.transport.payloads)
    assert "4242" in caplog.text


def test_non_finite_outputs_travel_as_npy_and_are_refused_as_json(start_server: Start, client_tel: Telemetry) -> None:
    server = start_server()
    x = np.array([[np.nan, np.inf, -np.inf, 0, 1, 2, 3, 4]], dtype=np.float32)
    with connect(server.url, telemetry=client_tel) as client:  # the client asks for npy outputs
        model_id = client.upload_model(identity_model(), name="identity")
        np.testing.assert_array_equal(client.run_model(model_id, x)["y"], x)
    npy_input = client_module._encode(x)
    response = _post(server.url, f"/models/{model_id}/run", json={"inputs": [npy_input], "output_format": "json"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_input")
    assert "npy" in response.json()["detail"]
