"""`status` tells what became of this install's events — sent, waiting, lost, and why — as a real receiver saw it."""

from __future__ import annotations

import json

from blindai_telemetry import Telemetry

from ._helpers import Invoke, closed_port_url
from ._sink import Sink


def test_status_json_delivery_matches_what_the_receiver_got_and_what_waits(invoke: Invoke, sink: Sink) -> None:
    up = Telemetry("blindai-server", "0.6.3", endpoint=sink.url, flush_interval=60)
    for i in range(25):
        up.track("model_run", model_name="resnet50", duration_ms=float(i))
    up.track("no_such_event")
    up.track("no_such_event")
    assert up.flush(timeout=10)
    up.shutdown(timeout=5)
    down_url = closed_port_url()
    down = Telemetry("blindai-server", "0.6.3", endpoint=down_url, flush_interval=60)
    for _ in range(7):
        down.track("server_started")
    assert down.shutdown(timeout=0.5) is False  # the collector does not answer: the 7 wait on disk

    received = [e for p in sink.payloads() for e in p["events"]]  # type: ignore[index]
    delivery = json.loads(invoke("status", "--json").stdout)["delivery"]
    assert delivery["sent"] == len(received) == 25
    assert delivery["pending"] == 7
    assert delivery["lost"] == 2  # the two unknown events, dropped by the filter
    assert delivery["last_error"] == f"the collector at {down_url} did not answer (connection refused)"
    assert isinstance(delivery["last_attempt_at"], int)
    out = invoke("status").stdout
    assert f"7 event(s) waiting: the collector at {down_url} did not answer (connection refused) at " in out
    assert "25 event(s) sent, 2 lost for good" in out
    assert "7 event(s)" in invoke("inspect").stdout  # the waiting batch, listed


def test_the_next_start_delivers_what_waited_and_status_says_so(invoke: Invoke, sink: Sink) -> None:
    down = Telemetry("blindai-server", "0.6.3", endpoint=closed_port_url(), flush_interval=60)
    for _ in range(4):
        down.track("server_started")
    down.shutdown(timeout=0.5)
    assert json.loads(invoke("status", "--json").stdout)["delivery"]["pending"] == 4
    up = Telemetry("blindai-server", "0.6.3", endpoint=sink.url, flush_interval=60)
    assert up.flush(timeout=10)
    up.shutdown(timeout=5)
    delivery = json.loads(invoke("status", "--json").stdout)["delivery"]
    assert (delivery["sent"], delivery["pending"], delivery["last_error"]) == (4, 0, None)
    assert "every event was delivered" in invoke("status").stdout
