"""`inspect` shows what the real SDK actually sent: equal to what a real HTTP receiver got, and to debug output."""

from __future__ import annotations

import json

import pytest

from blindai_telemetry import Telemetry
from blindai_telemetry import environment_variables as ev

from ._helpers import Invoke
from ._sink import Sink


def send_three_batches(telemetry: Telemetry) -> None:
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10)
    telemetry.track("model_uploaded", model_name="resnet50", model_size_bytes=2048, duration_ms=3.5, ok=True)
    telemetry.track("model_run", model_name="my-secret-model", duration_ms=1.25, input_bytes=64, ok=True)
    assert telemetry.flush(timeout=10)
    telemetry.track("model_run", model_name="gpt2", duration_ms=2.0, input_bytes=8, ok=False, error_kind="internal")
    assert telemetry.flush(timeout=10)


def test_inspect_json_equals_what_the_receiver_got(invoke: Invoke, sink: Sink) -> None:
    telemetry = Telemetry("blindai-server", "0.6.3", endpoint=sink.url, mode="simulation", flush_interval=60)
    try:
        send_three_batches(telemetry)
    finally:
        telemetry.shutdown(timeout=5)
    received = sink.payloads()
    assert len(received) == 3
    records = json.loads(invoke("inspect", "--json").stdout)
    assert [r["payload"] for r in records] == received
    assert all(r["transport"] == "http" and r["endpoint"] == sink.url and r["outcome"] == "ok" for r in records)
    # Each flush() sends what was queued before it; the worker may split that further (it may already be awake
    # when the next track() comes), so the batches are counted, not their exact grouping.
    assert sum(r["events"] for r in records) == 4 and 3 <= len(records) <= 4
    assert "my-secret-model" not in json.dumps(records)  # the log shows the hashed name that was sent


def test_inspect_table_lists_the_batches_the_receiver_got(invoke: Invoke, sink: Sink) -> None:
    telemetry = Telemetry("blindai-server", "0.6.3", endpoint=sink.url, mode="simulation", flush_interval=60)
    try:
        send_three_batches(telemetry)
    finally:
        telemetry.shutdown(timeout=5)
    names = [[e["event"] for e in p["events"]] for p in sink.payloads()]  # type: ignore[index]
    assert [n for batch in names for n in batch] == ["server_started", "model_uploaded", "model_run", "model_run"]
    rows = invoke("inspect").stdout.splitlines()[2:2 + len(names)]
    assert [row.split()[3:] for row in rows] == [
        ["http", sink.url, "ok", str(len(batch)), *", ".join(batch).split()] for batch in names
    ]


def test_status_reports_the_last_batch_after_a_real_send(invoke: Invoke, sink: Sink) -> None:
    telemetry = Telemetry("blindai-client", "0.6.3", endpoint=sink.url, flush_interval=60)
    try:
        telemetry.track("client_connected")
        assert telemetry.flush(timeout=10)
        install_id = telemetry.install_id
    finally:
        telemetry.shutdown(timeout=5)
    data = json.loads(invoke("status", "--json").stdout)
    assert data["install_id"] == install_id and isinstance(data["last_sent_at"], int)
    assert data["last_endpoint"] == sink.url
    assert isinstance(data["notice_shown_at"], int)  # the SDK told this user once, before the first batch
    assert f"the last batch went to {sink.url}" in invoke("status").stdout
    assert sink.payloads()[0]["events"][0]["install_id"] == install_id  # type: ignore[index]


def test_debug_output_equals_the_log(invoke: Invoke, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_DEBUG, "1")
    telemetry = Telemetry("blindai-server", "0.6.3", endpoint="http://127.0.0.1:9", flush_interval=60)
    try:
        send_three_batches(telemetry)
    finally:
        telemetry.shutdown(timeout=5)
    printed = [line.removeprefix("[telemetry] ") for line in capsys.readouterr().err.splitlines()
               if line.startswith("[telemetry] {")]
    records = json.loads(invoke("inspect", "--json").stdout)
    assert len(printed) == 3
    assert [r["payload"] for r in records] == [json.loads(line) for line in printed]
    assert {r["outcome"] for r in records} == {"debug"} and {r["transport"] for r in records} == {"debug"}
    assert "Debug mode:  on" in invoke("status").stdout
