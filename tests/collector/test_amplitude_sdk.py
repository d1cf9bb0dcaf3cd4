"""Amplitude's own Python SDK (`amplitude-analytics`), pointed at the collector with `server_url`, works unchanged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from amplitude import Amplitude, BaseEvent, Config

from blindai_telemetry.collector.app import create_app
from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.reference.threaded import ThreadedServer
from blindai_telemetry.stores import DuckDBStore

DEVICE = "6f1d2c3b-4a59-4e68-9d7c-0b1a2f3e4d5c"
TIMEOUT = 20.0


class Callbacks:
    """Collects the SDK's per-event callbacks; `wait(n)` returns once n have arrived (or the timeout passed)."""

    def __init__(self) -> None:
        self.results: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def __call__(self, event: BaseEvent, code: int, message: str | None = None) -> None:
        with self._changed:
            self.results.append((event.event_type, code, message or ""))
            self._changed.notify_all()

    def wait(self, count: int) -> list[tuple[str, int, str]]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.results) >= count, timeout=TIMEOUT)
            return list(self.results)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[str, DuckDBStore]]:
    store = DuckDBStore(tmp_path / "telemetry.duckdb")
    server = ThreadedServer(create_app(CollectorSettings(), store)).start()
    try:
        yield f"{server.url}/2/httpapi", store
    finally:
        server.stop()
        store.close()


def sdk(server_url: str, callbacks: Callbacks, **config: Any) -> Amplitude:
    # flush_interval_millis is long so that only our explicit flush() sends: the test decides when.
    client = Amplitude("collector-key", Config(server_url=server_url, flush_queue_size=50,
                                               flush_interval_millis=60_000, callback=callbacks,
                                               logger=logging.getLogger("amplitude-under-test"), **config))
    return client


def flush(client: Amplitude) -> None:
    """Send what the SDK holds and wait for the answers (flush() returns one future per destination, or None)."""
    for future in client.flush():
        if future is not None:
            future.result(TIMEOUT)


def test_the_amplitude_sdk_delivers_to_the_collector_and_gets_success_callbacks(
        collector: tuple[str, DuckDBStore]) -> None:
    url, store = collector
    callbacks = Callbacks()
    client = sdk(url, callbacks)
    try:
        client.track(BaseEvent("server_started", device_id=DEVICE, app_version="0.6.3", os_name="Linux",
                               user_properties={"app": "blindai-server", "mode": "hardware"}))
        for i in range(3):
            client.track(BaseEvent("model_run", device_id=DEVICE,
                                   event_properties={"model_name": "resnet50", "duration_ms": 10.0 + i, "ok": True}))
        client.track(BaseEvent("Button Clicked", device_id=DEVICE))  # not a catalogue event: dropped, still 200
        flush(client)
        results = callbacks.wait(5)
    finally:
        client.shutdown()
    assert [code for _, code, _ in results] == [200] * 5, results
    rows = store.rows()
    assert sorted(r["event"] for r in rows) == ["model_run"] * 3 + ["server_started"]
    assert {r["install_id"] for r in rows} == {DEVICE}
    assert {r["source"] for r in rows} == {"amplitude"}
    assert sorted(r["duration_ms"] for r in rows if r["event"] == "model_run") == [10.0, 11.0, 12.0]
    started = next(r for r in rows if r["event"] == "server_started")
    assert (started["mode"], started["app"], started["app_version"]) == ("hardware", "blindai-server", "0.6.3")


def test_events_the_collector_refuses_fail_in_the_sdk_and_the_rest_are_delivered(
        collector: tuple[str, DuckDBStore]) -> None:
    """Amplitude's 400 lists failing events by index: its SDK fails those and re-sends the others."""
    url, store = collector
    callbacks = Callbacks()
    client = sdk(url, callbacks)
    try:
        client.track(BaseEvent("model_run", user_id="null", device_id=DEVICE))  # an id on Amplitude's invalid list
        client.track(BaseEvent("model_run", device_id=DEVICE, event_properties={"duration_ms": 5.0}))
        flush(client)
        first = callbacks.wait(1)
        flush(client)  # the SDK re-queued the valid event; send it now (unless its worker already did)
        results = callbacks.wait(2)
    finally:
        client.shutdown()
    assert first[0][1] == 400
    assert sorted(code for _, code, _ in results) == [200, 400], results
    [row] = store.rows()
    assert row["duration_ms"] == 5.0


def test_retries_by_the_sdk_are_deduplicated_by_insert_id(collector: tuple[str, DuckDBStore]) -> None:
    url, store = collector
    callbacks = Callbacks()
    client = sdk(url, callbacks)
    try:
        for _ in range(2):  # the same event twice, as a retry after a lost answer would send it
            client.track(BaseEvent("model_run", device_id=DEVICE, time=1_764_323_400_001,
                                   insert_id="a7e2c1f0-1111-4000-8000-000000000001"))
            flush(client)
        results = callbacks.wait(2)
    finally:
        client.shutdown()
    assert [code for _, code, _ in results] == [200, 200]
    assert len(store.rows()) == 1


def test_min_id_length_option_is_honoured(collector: tuple[str, DuckDBStore]) -> None:
    url, store = collector
    callbacks = Callbacks()
    client = sdk(url, callbacks, min_id_length=3)
    try:
        client.track(BaseEvent("server_started", user_id="abc"))
        flush(client)
        results = callbacks.wait(1)
    finally:
        client.shutdown()
    assert [code for _, code, _ in results] == [200]
    assert [r["install_id"] for r in store.rows()] == ["abc"]

