"""`blindai-telemetry inspect` reads the transparency log: a readable table, or the exact records as JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from blindai_telemetry import _config

from ._helpers import Invoke


def native_record(sent_at: int, names: list[str], outcome: str = "ok") -> dict[str, Any]:
    events = [{"event_id": f"id-{i}", "event": name, "time": sent_at - 1} for i, name in enumerate(names)]
    return {"sent_at": sent_at, "transport": "http", "endpoint": "http://127.0.0.1:8787", "outcome": outcome,
            "events": len(events), "payload": {"schema_version": 1, "sent_at": sent_at, "events": events}}


def test_empty_log_says_nothing_was_sent(invoke: Invoke) -> None:
    assert "Nothing has been sent" in invoke("inspect").stdout
    assert json.loads(invoke("inspect", "--json").stdout) == []


def test_table_shows_time_transport_endpoint_outcome_count_and_names(invoke: Invoke) -> None:
    _config.append_sent_log(native_record(1_764_323_400_123, ["model_run", "server_started", "model_run"]))
    _config.append_sent_log(native_record(1_764_323_402_000, ["server_stopped"], outcome="retry"))
    lines = invoke("inspect").stdout.splitlines()
    assert lines[0].split() == ["time", "transport", "endpoint", "outcome", "events", "event", "names"]
    assert lines[2].split() == ["2025-11-28", "09:50:00", "UTC", "http", "http://127.0.0.1:8787", "ok", "3",
                                "model_run", "×2,", "server_started"]
    assert lines[3].split()[3:] == ["http", "http://127.0.0.1:8787", "retry", "1", "server_stopped"]


def test_amplitude_payloads_are_named_by_event_type(invoke: Invoke) -> None:
    payload = {"api_key": "k", "events": [{"event_type": "model_uploaded", "device_id": "abcdef"}]}
    _config.append_sent_log({"sent_at": 1, "transport": "amplitude", "endpoint": "https://api2.amplitude.com",
                             "outcome": "ok", "events": 1, "payload": payload})
    assert "model_uploaded" in invoke("inspect").stdout


def test_json_returns_the_records_exactly_and_limit_keeps_the_latest(invoke: Invoke) -> None:
    records = [native_record(1_000 + i, ["model_run"] * (i + 1)) for i in range(5)]
    for record in records:
        _config.append_sent_log(record)
    assert json.loads(invoke("inspect", "--json").stdout) == records
    assert json.loads(invoke("inspect", "--json", "--limit", "2").stdout) == records[-2:]
    # header, rule, rows, footer; then a blank line and "Nothing is waiting to be sent"
    assert len(invoke("inspect", "--limit", "2").stdout.splitlines()) == 2 + 2 + 2 + 2


def test_rotated_log_is_read_too(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_config, "SENT_LOG_MAX_BYTES", 600)  # rotate after a couple of records
    records = [native_record(2_000 + i, ["model_run"]) for i in range(4)]
    for record in records:
        _config.append_sent_log(record)
    assert (_config.config_dir() / (_config.SENT_LOG + ".1")).exists()
    shown = json.loads(invoke("inspect", "--json", "--limit", "100").stdout)
    assert shown == records[-len(shown):] and len(shown) >= 2
