"""`POST /2/httpapi` on the real collector (uvicorn on 127.0.0.1, a real DuckDB file), answered as Amplitude does."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from blindai_telemetry.collector.app import create_app
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.reference.threaded import ThreadedServer
from blindai_telemetry.stores import DuckDBStore

INSTALL = "6f1d2c3b-4a59-4e68-9d7c-0b1a2f3e4d5c"
SERVER_UID = "1A2B3C4D5E6F"


@dataclass
class Running:
    url: str
    store: DuckDBStore
    http: httpx.Client

    def post(self, path: str, payload: Any, **kw: Any) -> httpx.Response:
        return self.http.post(self.url + path, content=json.dumps(payload).encode(),
                              headers={"Content-Type": "application/json", **kw.pop("headers", {})}, **kw)


@contextlib.contextmanager
def serve(tmp_path: Path, settings: CollectorSettings) -> Iterator[Running]:
    store = DuckDBStore(tmp_path / "telemetry.duckdb")
    server = ThreadedServer(create_app(settings, store)).start()
    try:
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            yield Running(server.url, store, client)
    finally:
        server.stop()
        store.close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Running]:
    with serve(tmp_path, CollectorSettings()) as running:
        yield running


def amp_event(**over: Any) -> dict[str, Any]:
    evt = {"event_type": "model_run", "device_id": INSTALL, "time": 1_764_323_400_001,
           "insert_id": "0b6f3f8e-6a0e-4c55-9d3e-1f9b0d0f2a11", "app_version": "0.6.3", "ip": "127.0.0.77",
           "user_properties": {"app": "blindai-server", "mode": "simulation"},
           "event_properties": {"model_name": "resnet50", "duration_ms": 12.5}}
    return evt | over


def original(event_type: str, props: dict[str, Any], time: int = 1663600000) -> dict[str, Any]:
    variant = {"started": "Started", "send_model": "SendModel", "run_model": "RunModel"}[event_type]
    return {"user_id": SERVER_UID, "cloud_user_id": None, "custom_agent_id": None, "event_type": event_type,
            "device_id": "Linux - SGX SW", "time": time, "app_version": "0.5.6",
            "user_properties": {"sgx_mode": "SW", "uptime": 42, "azure_dcsv3_patch_enabled": False,
                                "client_uid": "9f" * 32, "client_platform_name": "Linux"},
            "event_properties": {variant: props}}


ERA_C = [
    original("started", {}),
    original("send_model", {"model_name": "covidnet", "model_size": 1_048_576, "time_taken": 0.8}, 1663600010),
    original("run_model", {"model_hash": "ab" * 32, "time_taken": 0.031}, 1663600011),
]


def test_an_amplitude_batch_is_stored_and_answered_in_amplitudes_shape(collector: Running) -> None:
    response = collector.post("/2/httpapi", {"api_key": "k", "events": [amp_event()]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["code"], answer["events_ingested"]) == (200, 1)
    assert answer["payload_size_bytes"] > 0 and answer["server_upload_time"] > 0
    [row] = collector.store.rows()
    assert (row["event"], row["install_id"], row["source"], row["mode"]) == (
        "model_run", INSTALL, "amplitude", "simulation")
    assert (row["model_name"], row["duration_ms"], row["time"]) == ("resnet50", 12.5, 1_764_323_400_001)
    assert "127.0.0.77" not in json.dumps(row, default=str)


def test_a_repeated_insert_id_is_stored_once_and_still_acknowledged(collector: Running) -> None:
    for _ in range(2):
        response = collector.post("/2/httpapi", {"api_key": "k", "events": [amp_event()]})
        assert response.status_code == 200 and response.json()["events_ingested"] == 1
    assert len(collector.store.rows()) == 1


def test_an_invalid_amplitude_batch_gets_amplitudes_400_and_nothing_is_stored(collector: Running) -> None:
    events = [amp_event(), amp_event(device_id=None, insert_id="2"), amp_event(time="yesterday", insert_id="3")]
    response = collector.post("/2/httpapi", {"api_key": "k", "events": events})
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == 400
    assert answer["events_with_missing_fields"] == {"user_id": [1], "device_id": [1]}
    assert answer["events_with_invalid_fields"] == {"time": [2]}
    assert collector.store.rows() == []


def test_a_request_without_api_key_names_the_missing_field(collector: Running) -> None:
    response = collector.post("/2/httpapi", {"events": [amp_event()]})
    assert response.status_code == 400
    assert response.json()["missing_field"] == "api_key"


def test_era_a_original_events_are_accepted_on_the_amplitude_endpoint(collector: Running) -> None:
    response = collector.post("/2/httpapi", {"api_key": "33888bd644f1dc39f72f2963c944c94c", "events": ERA_C[:2]})
    assert response.status_code == 200, response.text
    rows = collector.store.rows()
    assert [(r["event"], r["time"], r["source"]) for r in rows] == [
        ("server_started", 1_663_600_000_000, "amplitude"), ("model_uploaded", 1_663_600_010_000, "amplitude")]


def test_a_throttled_install_gets_amplitudes_429_listing_every_event(tmp_path: Path) -> None:
    """Amplitude's SDKs wait 30 s before re-sending the events listed in `throttled_events`."""
    with serve(tmp_path, CollectorSettings(rate_limit_per_s=1.0, rate_window=2.0)) as collector:
        events = [amp_event(insert_id=str(i)) for i in range(3)]
        response = collector.post("/2/httpapi", {"api_key": "k", "events": events})
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1
        answer = response.json()
        assert (answer["code"], answer["throttled_events"]) == (429, [0, 1, 2])
        assert list(answer["throttled_devices"]) == [INSTALL]
        assert answer["exceeded_daily_quota_devices"] == {}
        assert collector.store.rows() == []


def test_a_batch_over_2000_events_gets_amplitudes_413(collector: Running) -> None:
    events = [amp_event(insert_id=str(i)) for i in range(2001)]
    response = collector.post("/2/httpapi", {"api_key": "k", "events": events})
    assert response.status_code == 413
    assert response.json() == {"code": 413, "error": "Payload too large"}


def test_a_batch_whose_events_are_all_refused_says_why(collector: Running) -> None:
    unknown = [amp_event(event_type="Purchase", insert_id=f"id-{i}") for i in range(3)]
    response = collector.post("/2/httpapi", {"api_key": "k", "events": unknown})
    assert response.status_code == 200, response.text
    assert (response.json()["events_ingested"], response.json()["dropped"]) == (0, {"unknown_event": 3})
    assert collector.store.rows() == []
