"""`POST /blindai` on the real collector (uvicorn on 127.0.0.1, a real DuckDB file): old servers report to it."""

from __future__ import annotations

import gzip
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

SERVER_UID = "1A2B3C4D5E6F"


@dataclass
class Running:
    url: str
    store: DuckDBStore
    http: httpx.Client

    def post(self, path: str, payload: Any, **kw: Any) -> httpx.Response:
        return self.http.post(self.url + path, content=json.dumps(payload).encode(),
                              headers={"Content-Type": "application/json", **kw.pop("headers", {})}, **kw)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Running]:
    store = DuckDBStore(tmp_path / "telemetry.duckdb")
    server = ThreadedServer(create_app(CollectorSettings(), store)).start()
    try:
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            yield Running(server.url, store, client)
    finally:
        server.stop()
        store.close()


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


def test_an_original_servers_batch_is_stored_with_units_converted(collector: Running) -> None:
    response = collector.post("/blindai", ERA_C)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 3
    rows = collector.store.rows()
    assert [r["event"] for r in rows] == ["server_started", "model_uploaded", "model_run"]
    assert {(r["install_id"], r["mode"], r["app"], r["source"]) for r in rows} == {
        (SERVER_UID, "simulation", "blindai-server", "blindai")}
    uploaded, run = rows[1], rows[2]
    assert (uploaded["model_name"], uploaded["model_size_bytes"], uploaded["duration_ms"]) == (
        "covidnet", 1_048_576, pytest.approx(800.0))
    assert run["duration_ms"] == pytest.approx(31.0) and run["model_name"] is None
    stored = json.dumps(rows, default=str)
    assert "9f" * 32 not in stored and "ab" * 32 not in stored


def test_a_replayed_original_batch_is_deduplicated(collector: Running) -> None:
    assert collector.post("/blindai", ERA_C).status_code == 200
    again = collector.post("/blindai", ERA_C)
    assert again.status_code == 200 and again.json()["duplicates"] == 3
    assert len(collector.store.rows()) == 3


def test_a_gzipped_original_batch_is_accepted(collector: Running) -> None:
    body = gzip.compress(json.dumps(ERA_C).encode())
    response = collector.http.post(collector.url + "/blindai", content=body,
                                   headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert len(collector.store.rows()) == 3


def test_a_malformed_original_batch_is_refused_naming_index_and_field(collector: Running) -> None:
    bad = original("run_model", {"time_taken": "fast"})
    response = collector.post("/blindai", [ERA_C[0], bad])
    assert response.status_code == 400
    assert response.json()["detail"] == {"index": 1, "field": "event_properties.RunModel.time_taken"}
    assert collector.store.rows() == []


def test_a_body_that_is_not_an_array_is_refused_on_blindai(collector: Running) -> None:
    response = collector.post("/blindai", {"events": ERA_C})
    assert response.status_code == 400 and "array" in response.json()["error"]
    assert collector.store.rows() == []


def test_a_private_model_name_is_stored_only_as_a_keyed_hash(collector: Running) -> None:
    upload = original("send_model", {"model_name": "acme-fraud-detector-v2", "model_size": 10, "sign": False,
                                     "time_taken": 0.1})
    assert collector.post("/blindai", [upload]).status_code == 200
    [row] = collector.store.rows()
    assert row["model_name"].startswith("h:")
    assert "acme" not in json.dumps(row, default=str)


def test_a_batch_whose_events_are_all_refused_says_why(collector: Running) -> None:
    copy = ERA_C[1] | {"event_type": "client_send_model"}  # a client's copy: dropped whole, as the original did
    response = collector.post("/blindai", [copy, copy | {"event_type": "send_dataset"}])
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 0, "duplicates": 0, "dropped_fields": 0, "dropped": {"unknown_event": 2}}
    assert collector.store.rows() == []
