"""No IP anywhere: the sender's address and forwarding headers reach no file the collector writes."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import fastapi
import httpx
import pytest
from collector_helpers import batch, event, start_serve

from blindai_telemetry.stores import DuckDBStore

SOURCE = "127.0.0.77"
FORWARDED = ("203.0.113.77", "198.51.100.77", "192.0.2.77", "2001:db8::77")
MARKER = "marker-5f3a9c"  # a value that IS stored, to show the search can see stored text


def test_the_senders_address_is_never_stored_or_logged(tmp_path: Path) -> None:
    served = start_serve(tmp_path, "--db", str(tmp_path / "t.duckdb"), "--log-level", "debug")
    headers = {"X-Forwarded-For": f"{FORWARDED[0]}, {FORWARDED[1]}", "X-Real-IP": FORWARDED[1],
               "Forwarded": f'for={FORWARDED[2]};proto=http, for="[{FORWARDED[3]}]"', "True-Client-IP": FORWARDED[0]}
    transport = httpx.HTTPTransport(local_address=SOURCE)
    with httpx.Client(base_url=served.url, transport=transport, headers=headers, timeout=30) as http:
        assert http.post("/v1/batch", json=batch(event(app_version=MARKER))).status_code == 200
        amplitude = {"api_key": "k", "events": [{"event_type": "server_started", "device_id": "device-77777",
                                                   "ip": FORWARDED[2], "app_version": MARKER}]}
        assert http.post("/2/httpapi", json=amplitude).status_code == 200
        old = [{"user_id": "1A2B3C", "event_type": "started", "device_id": "Linux - SGX SW", "time": 1663600000,
                "app_version": MARKER, "user_properties": {"sgx_mode": "SW"}, "event_properties": {"Started": {}}}]
        assert http.post("/blindai", json=old).status_code == 200
        assert http.post("/v1/batch", content=b"{bad").status_code == 400
        assert http.post("/v1/deletions", json={"install_ids": ["nobody-x"]}).status_code == 202
        # Proxied, the query API wants the admin token (none is configured): refused, and the refusal logged.
        assert http.get("/api/v1/summary").status_code == 401
        assert http.get("/metrics").status_code == 200
    assert served.stop() == 0

    # Every byte of every file the collector wrote: the DuckDB file and its WAL, stdout and stderr.
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"t.duckdb", "stdout.log", "stderr.log"} <= {p.name for p in files}
    assert b"POST /v1/batch 200" in (tmp_path / "stderr.log").read_bytes()  # requests are logged
    # The raw search sees stored text (so it would see an address stored the same way).
    assert any(MARKER.encode() in p.read_bytes() for p in files if p.name.startswith("t.duckdb"))
    for path in files:
        data = path.read_bytes()
        for address in (SOURCE, *FORWARDED):
            assert address.encode() not in data, f"{address} found in {path.name}"

    # And logically: the stored data hold the sent values, without any of the addresses.
    store = DuckDBStore(tmp_path / "t.duckdb")
    try:
        rows = store.rows()
        tables = store.fetch("SELECT table_name FROM information_schema.tables")
        dump = json.dumps([store.fetch(f'SELECT * FROM "{t["table_name"]}"') for t in tables], default=str)
    finally:
        store.close()
    assert [r["app_version"] for r in rows] == [MARKER] * 3
    assert MARKER in dump
    for address in (SOURCE, *FORWARDED):
        assert address not in dump


_TRACED = """
import json, sys
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from blindai_telemetry.collector.app import create_app
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores import InMemoryStore

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # as an operator's OpenTelemetry setup (or opentelemetry-instrument) does

plain = FastAPI()
plain.get("/ping")(lambda: {"ok": True})
with TestClient(plain) as client:
    client.get("/ping")
control = len(exporter.get_finished_spans())
exporter.clear()
with TestClient(create_app(CollectorSettings(), InMemoryStore())) as client:
    assert client.post("/v1/batch", content=sys.argv[1]).status_code == 200
    client.get("/healthz")
print(json.dumps({"control": control, "collector": [s.name for s in exporter.get_finished_spans()]}))
"""


def test_an_opentelemetry_setup_in_the_process_traces_nothing_of_the_collectors_requests() -> None:
    """FastAPI (from 0.165) traces every request, body included, once the process has an OpenTelemetry provider; the
    collector switches that off. A plain FastAPI app in the same process is traced: the test can see spans."""
    if "telemetry" not in inspect.signature(fastapi.FastAPI).parameters:
        pytest.skip(f"FastAPI {fastapi.__version__} has no telemetry of its own")
    env = {"FASTAPI_OTEL_AUTO_CONFIGURE": "true", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", _TRACED, json.dumps(batch(event()))], capture_output=True,
                         text=True, timeout=120, env=env, check=True).stdout
    seen = json.loads(out.splitlines()[-1])
    assert seen["control"] > 0
    assert seen["collector"] == []
