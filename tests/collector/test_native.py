"""`POST /v1/batch` on a real collector: stored as sent, held to the catalogue, deduplicated, gzip accepted."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from collector_helpers import NOW_MS, Collector, batch, event, metric, running

from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores import DuckDBStore


def test_a_batch_is_stored_with_every_catalogue_field_in_its_column(collector: Collector) -> None:
    e = event(os_release="6.1.0", python_version="3.11.7", uptime_s=12.5, cpu_count=2, memory_gb=32,
              properties={"model_name": "resnet50", "duration_ms": 12.5, "input_bytes": 1024, "ok": True,
                          "client_install_id": "client-1", "client_user_agent": "blindai-python"})
    with collector.client() as http:
        r = http.post("/v1/batch", json=batch(e))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "duplicates": 0, "dropped_fields": 0, "dropped": {}}
    [row] = collector.store.rows()
    assert row["event_id"] == e["event_id"] and row["event"] == "model_run" and row["time"] == NOW_MS
    assert row["install_id"] == e["install_id"] and row["source"] == "native"
    assert (row["mode"], row["cpu_count"], row["memory_gb"], row["uptime_s"]) == ("simulation", 2, 32.0, 12.5)
    assert (row["model_name"], row["duration_ms"], row["input_bytes"], row["ok"]) == ("resnet50", 12.5, 1024, True)
    assert row["client_install_id"] == "client-1" and row["client_user_agent"] == "blindai-python"


def test_unknown_fields_and_events_are_dropped_and_counted_not_refused(collector: Collector) -> None:
    known = event(hostname="gpu-box-7", properties={"model_name": "resnet50", "prompt": "secret text"})
    wrong_place = event("server_started", properties={"model_name": "resnet50"})  # not a server_started property
    unknown = event("model_trained")
    with collector.client() as http:
        r = http.post("/v1/batch", json=batch(known, wrong_place, unknown, future_field=1))
        page = http.get("/metrics").text
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 2, "duplicates": 0, "dropped_fields": 4,
                        "dropped": {"unknown_event": 1}}
    rows = {row["event_id"]: row for row in collector.store.rows()}
    assert set(rows) == {known["event_id"], wrong_place["event_id"]}
    assert rows[wrong_place["event_id"]]["model_name"] is None
    assert "gpu-box-7" not in json.dumps(rows, default=str) and "secret" not in json.dumps(rows, default=str)
    assert metric(page, "blindai_collector_fields_dropped_total") == 4
    assert metric(page, "blindai_collector_events_dropped_total") == 1


def test_a_model_name_that_looks_like_a_path_or_address_is_not_stored(collector: Collector) -> None:
    names = ["/home/alice/models/acme.onnx", "alice@example.com", "10.1.2.3", "https://models.example.com/m"]
    events = [event(properties={"model_name": n, "ok": True}) for n in names]
    with collector.client() as http:
        r = http.post("/v1/batch", json=batch(*events))
    assert r.status_code == 200 and r.json()["dropped_fields"] == len(names)
    assert [row["model_name"] for row in collector.store.rows()] == [None] * len(names)


def test_a_retried_batch_is_stored_once(collector: Collector) -> None:
    events = [event() for _ in range(5)]
    with collector.client() as http:
        first = http.post("/v1/batch", json=batch(*events))
        again = http.post("/v1/batch", json=batch(*events, events[0]))
        page = http.get("/metrics").text
    assert first.json()["duplicates"] == 0
    assert again.status_code == 200 and again.json() == {"accepted": 6, "duplicates": 6, "dropped_fields": 0,
                                                         "dropped": {}}
    assert collector.store.summary()["events"] == 5
    assert metric(page, "blindai_collector_events_deduplicated_total") == 6


def test_a_gzip_body_is_accepted(collector: Collector) -> None:
    body = gzip.compress(json.dumps(batch(event(), event())).encode())
    with collector.client() as http:
        r = http.post("/v1/batch", content=body,
                      headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert collector.store.summary()["events"] == 2


def test_duplicates_are_ignored_across_a_restart_on_the_same_duckdb_file(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.duckdb"
    events = [event() for _ in range(3)]
    for _ in range(2):
        store = DuckDBStore(path)
        try:
            with running(store) as c, c.client() as http:
                assert http.post("/v1/batch", json=batch(*events)).status_code == 200
        finally:
            store.close()
    store = DuckDBStore(path)
    try:
        assert store.summary()["events"] == 3
    finally:
        store.close()


def test_write_keys_are_required_when_configured() -> None:
    settings = CollectorSettings(write_keys=("k-one", "k-two"), retention_days=0)
    with running(settings=settings) as c, c.client() as http:
        assert http.post("/v1/batch", json=batch(event())).status_code == 401
        wrong = http.post("/v1/batch", json=batch(event()), headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "write key" in wrong.json()["error"]
        ok = http.post("/v1/batch", json=batch(event()), headers={"Authorization": "Bearer k-two"})
        assert ok.status_code == 200
        assert c.store.summary()["events"] == 1


def test_healthz_answers_once_the_collector_accepts_events(collector: Collector) -> None:
    with collector.client() as http:
        r = http.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_sdk_drop_counters_become_metrics(collector: Collector) -> None:
    with collector.client() as http:
        http.post("/v1/batch", json=batch(event(), dropped={"queue_full": 3, "made_up_reason": 7}))
        page = http.get("/metrics").text
    assert 'blindai_collector_sdk_dropped_total{reason="queue_full"} 3.0' in page
    assert "made_up_reason" not in page


def test_a_resent_batch_does_not_count_its_sdk_drops_twice(collector: Collector) -> None:
    sent = batch(event(), event(), dropped={"queue_full": 3})
    with collector.client() as http:
        assert http.post("/v1/batch", json=sent).status_code == 200
        again = http.post("/v1/batch", json=sent)  # the SDK did not get the first answer, and re-sends
        assert again.status_code == 200 and again.json()["duplicates"] == 2
        http.post("/v1/batch", json=batch(event(), dropped={"queue_full": 1}))
        page = http.get("/metrics").text
    assert 'blindai_collector_sdk_dropped_total{reason="queue_full"} 4.0' in page


def test_old_servers_and_amplitude_senders_pass_the_write_key_where_they_can() -> None:
    settings = CollectorSettings(write_keys=("k-one",), retention_days=0)
    old = [{"user_id": "1A2B3C", "event_type": "started", "time": NOW_MS // 1000, "app_version": "0.5.6",
            "event_properties": {"Started": {}}}]
    amp = {"events": [{"event_type": "server_started", "device_id": "device-12345"}]}
    with running(settings=settings) as c, c.client() as http:
        assert http.post("/blindai", json=old).status_code == 401
        assert http.post("/blindai?write_key=nope", json=old).status_code == 401
        assert http.post("/blindai?write_key=k-one", json=old).status_code == 200
        refused = http.post("/2/httpapi", json={**amp, "api_key": "nope"})
        assert refused.status_code == 401 and refused.json()["code"] == 401  # Amplitude's error shape
        assert http.post("/2/httpapi", json={**amp, "api_key": "k-one"}).status_code == 200
        assert c.store.summary()["events"] == 2


def test_a_batch_whose_events_are_all_refused_says_why(collector: Collector) -> None:
    unknown = [event("model_trained"), event("model_trained")]
    with collector.client() as http:
        r = http.post("/v1/batch", json=batch(*unknown))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 0, "duplicates": 0, "dropped_fields": 0, "dropped": {"unknown_event": 2}}
    assert collector.store.rows() == []
