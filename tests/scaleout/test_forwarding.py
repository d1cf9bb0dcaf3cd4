"""Forwarding to Amplitude from several collectors: each forwards what it stored, from its own outbox.

Every event reaches Amplitude (a copy stored by two racing collectors is forwarded twice, and Amplitude drops the
second by `insert_id`); a deletion requested on A stops B too: the deleted installs' keyed hashes are shared through
the store, and each forwarder reads them before every batch it sends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from blindai_telemetry.testing import FakeAmplitude

from .conftest import Process, delete, events, post, start_collector, wait_done

pytestmark = pytest.mark.slow


@pytest.fixture
def forwarding(clickhouse: Process, tmp_path: Path) -> Iterator[tuple[FakeAmplitude, list[Process]]]:
    """Two collectors on the module's ClickHouse, each forwarding to one fake Amplitude from its own outbox."""
    with FakeAmplitude() as fake:
        started: list[Process] = []
        try:
            for name in ("a", "b"):
                started.append(start_collector(
                    clickhouse, tmp_path / name, "--forward-amplitude-key", fake.state.api_key,
                    "--forward-amplitude-url", fake.url, "--forward-outbox", str(tmp_path / name / "outbox.sqlite")))
            yield fake, started
        finally:
            for p in started:
                p.stop()


def wait_forwarded(fake: FakeAmplitude, event_ids: list[str]) -> None:
    deadline = time.monotonic() + 60
    while not set(event_ids) <= set(fake.state.insert_ids()):
        assert time.monotonic() < deadline, "not forwarded in time"
        time.sleep(0.05)


def test_what_each_collector_stores_reaches_amplitude_once_per_insert_id(
    forwarding: tuple[FakeAmplitude, list[Process]],
) -> None:
    fake, (a, b) = forwarding
    batch = events(str(uuid.uuid4()), 10)
    assert post(a, batch[:6]).status_code == 200
    assert post(b, batch[4:]).status_code == 200
    wait_forwarded(fake, [e["event_id"] for e in batch])


def test_after_a_deletion_on_one_collector_no_collector_forwards_the_install(
    forwarding: tuple[FakeAmplitude, list[Process]],
) -> None:
    fake, (a, b) = forwarding
    gone, other = str(uuid.uuid4()), str(uuid.uuid4())
    wait_done(a, delete(a, gone))
    later = events(gone, 3)
    marker = events(other, 1)
    assert post(b, later).status_code == 200
    assert post(b, marker).status_code == 200
    wait_forwarded(fake, [marker[0]["event_id"]])  # the outbox drains in order: `later` went first, if at all
    assert not {e["event_id"] for e in later} & set(fake.state.insert_ids())
