"""Forwarding to Amplitude: batches within limits, outages survived, retries honoured, deletions propagated."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry.collector.forward import MAX_BYTES, MAX_EVENTS, AmplitudeForwarder, to_amplitude_event
from blindai_telemetry.testing import FakeAmplitude


def make_rows(n: int, install_id: str | None = None, **extra: Any) -> list[dict[str, Any]]:
    install = install_id or str(uuid.uuid4())
    return [{"event_id": str(uuid.uuid4()), "event": "model_run", "time": 1_764_000_000_000 + i,
             "install_id": install, "app": "blindai-server", "app_version": "0.6.3", "os_name": "Linux",
             "mode": "simulation", "duration_ms": 1.5, "ok": True, "properties": {}, **extra} for i in range(n)]


@pytest.fixture
def fake() -> Iterator[FakeAmplitude]:
    with FakeAmplitude() as server:
        yield server


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)  # time is not waited for: the test drives run_once() itself


def forwarder(fake: FakeAmplitude, path: Path, **kw: Any) -> AmplitudeForwarder:
    return AmplitudeForwarder(fake.state.api_key, path / "outbox.sqlite", base_url=fake.url, privacy_url=fake.url,
                              secret_key=fake.state.secret_key, **kw)


def drain(fwd: AmplitudeForwarder, attempts: int = 50) -> None:
    for _ in range(attempts):
        fwd.run_once()
        if fwd.pending() == 0:
            return
    raise AssertionError(f"{fwd.pending()} events still queued after {attempts} attempts")


def test_every_event_arrives_once_with_insert_id_and_no_ip(fake: FakeAmplitude, tmp_path: Path) -> None:
    rows = make_rows(30)
    fwd = forwarder(fake, tmp_path, sleep=Recorder())
    assert fwd.enqueue(rows) == 30
    assert fwd.enqueue(rows) == 30  # the same events again: the outbox keeps one copy of each
    drain(fwd)
    assert sorted(fake.state.insert_ids()) == sorted(r["event_id"] for r in rows)
    assert all("ip" not in e for e in fake.state.events)
    assert fake.state.events[0]["user_id"] == rows[0]["install_id"]
    fwd.stop()


def test_outage_then_recovery_honours_retry_after(fake: FakeAmplitude, tmp_path: Path) -> None:
    fake.state.scripted.extend([503, 503, 429, 500])
    fake.state.retry_after = 7
    sleeps = Recorder()
    fwd = forwarder(fake, tmp_path, sleep=sleeps)
    rows = make_rows(10)
    fwd.enqueue(rows)
    drain(fwd)
    assert len(fake.state.events) == 10
    assert fwd.stats.failures == 4
    # 503, 503 and 429 named a Retry-After; the bare 500 backs off with full jitter instead (a uniform draw, which
    # may itself land near 7 s: so the check is on the order of the waits, not on how many are near 7)
    waits = [s for s in sleeps.sleeps if s > 0]
    assert len(waits) == 4 and all(abs(s - 7.0) < 0.05 for s in waits[:3]), sleeps.sleeps
    fwd.stop()


def test_batches_respect_amplitude_limits(fake: FakeAmplitude, tmp_path: Path) -> None:
    fwd = forwarder(fake, tmp_path, sleep=Recorder())
    fwd.enqueue(make_rows(MAX_EVENTS * 2 + 10))
    fwd.enqueue(make_rows(1_800, model_name="m" * 600))  # ~1.3 MB of events: must be split by size
    sizes: list[int] = []
    original = fwd._post

    def spy(url: str, body: bytes, headers: dict[str, str]) -> Any:
        sizes.append(len(body))
        assert len(json.loads(body)["events"]) <= MAX_EVENTS
        return original(url, body, headers)

    fwd._post = spy  # type: ignore[method-assign]
    drain(fwd)
    assert len(fake.state.events) == MAX_EVENTS * 2 + 10 + 1_800
    assert max(sizes) <= MAX_BYTES
    fwd.stop()


def test_413_halves_the_batch(fake: FakeAmplitude, tmp_path: Path) -> None:
    fake.state.scripted.extend([413, 413])
    fwd = forwarder(fake, tmp_path, sleep=Recorder())
    fwd.enqueue(make_rows(100))
    drain(fwd)
    assert len(fake.state.events) == 100
    fwd.stop()


def test_invalid_events_are_dropped_and_the_rest_forwarded(fake: FakeAmplitude, tmp_path: Path) -> None:
    fwd = forwarder(fake, tmp_path, sleep=Recorder())
    fwd.enqueue(make_rows(3) + make_rows(2, install_id="abc"))  # Amplitude refuses ids shorter than 5
    drain(fwd)
    assert len(fake.state.events) == 3 and fwd.stats.rejected == 2
    fwd.stop()


def test_outbox_survives_a_restart(fake: FakeAmplitude, tmp_path: Path) -> None:
    first = forwarder(fake, tmp_path, sleep=Recorder())
    rows = make_rows(25)
    first.enqueue(rows)
    first.stop()  # the collector stops (or dies) before Amplitude was reached
    assert fake.state.events == []
    second = forwarder(fake, tmp_path, sleep=Recorder())
    assert second.pending() == 25
    drain(second)
    assert sorted(fake.state.insert_ids()) == sorted(r["event_id"] for r in rows)
    second.stop()


def test_deleted_install_is_never_forwarded_again(fake: FakeAmplitude, tmp_path: Path) -> None:
    fwd = forwarder(fake, tmp_path, sleep=Recorder())
    victim, other = str(uuid.uuid4()), str(uuid.uuid4())
    fwd.enqueue(make_rows(5, install_id=victim) + make_rows(5, install_id=other))
    fwd.forget([victim])
    assert fwd.enqueue(make_rows(3, install_id=victim)) == 0  # later events of a deleted install: refused
    drain(fwd)
    deadline = time.monotonic() + 5
    while fwd.pending_deletions() and time.monotonic() < deadline:
        fwd.run_once()
    assert {e["user_id"] for e in fake.state.events} == {other}
    assert fake.state.deleted_user_ids == [victim]
    assert fwd.stats.blocked == 3
    fwd.stop()
    # The deleted id is kept only as a keyed hash: not in clear anywhere in the outbox's files.
    for path in tmp_path.iterdir():
        assert victim.encode() not in path.read_bytes(), path


def test_privacy_api_gets_at_most_100_ids_a_second(fake: FakeAmplitude, tmp_path: Path) -> None:
    fwd = forwarder(fake, tmp_path, sleep=Recorder())
    ids = [str(uuid.uuid4()) for _ in range(150)]
    fwd.forget(ids)
    deadline = time.monotonic() + 10
    while fwd.pending_deletions() and time.monotonic() < deadline:
        fwd.run_once()
        time.sleep(0.05)
    assert sorted(fake.state.deleted_user_ids) == sorted(ids)
    calls = fake.state.deletion_calls
    assert len(calls) == 2 and calls[1] - calls[0] >= 1.0
    fwd.stop()


def test_amplitude_event_mapping() -> None:
    row = make_rows(1, os_release="6.1", client_install_id="c" * 36, cpu_count=2)[0]
    event = to_amplitude_event(row)
    assert event["insert_id"] == row["event_id"] and event["time"] == row["time"]
    assert event["os_version"] == "6.1" and event["platform"] == "blindai-server"
    assert event["event_properties"]["client_install_id"] == "c" * 36
    assert event["user_properties"]["cpu_count"] == 2 and "ip" not in event
