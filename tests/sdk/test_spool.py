"""The spool: events survive a collector outage and a restart of the host, within a disk bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from blindai_telemetry import InMemoryTransport, SendResult, Telemetry
from blindai_telemetry._spool import Spool
from sdk.sinks import Sink, black_hole


def test_spooled_events_are_replayed_by_the_next_start(sink: Sink, make_telemetry: Callable[..., Telemetry],
                                                       tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    with black_hole() as down:
        pass  # nothing listens there: the collector is down
    first = make_telemetry(endpoint=down, spool_dir=spool_dir)
    for i in range(30):
        first.track("model_run", model_name="resnet50", duration_ms=float(i))
    assert first.flush(timeout=0.5) is False
    for i in range(30, 40):  # tracked while the worker backs off
        first.track("model_run", model_name="resnet50", duration_ms=float(i))
    first.shutdown(timeout=0.5)
    assert Spool(spool_dir).listing(), "undelivered batches are on disk"

    # the host restarts, the collector is back
    second = make_telemetry(endpoint=sink.url, spool_dir=spool_dir)
    assert second.flush(timeout=10.0)
    durations = sorted(e["properties"]["duration_ms"] for e in sink.events())
    assert durations == [float(i) for i in range(40)]
    assert len({e["event_id"] for e in sink.events()}) == 40
    assert Spool(spool_dir).listing() == []


def test_delivered_batches_leave_no_file(make_telemetry: Callable[..., Telemetry], tmp_path: Path) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, spool_dir=tmp_path / "spool")
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert len(transport.events) == 1
    assert Spool(tmp_path / "spool").listing() == []


def test_refused_batches_are_removed_from_the_spool(make_telemetry: Callable[..., Telemetry],
                                                   tmp_path: Path) -> None:
    telemetry = make_telemetry(transport=InMemoryTransport([SendResult.DROP]), spool_dir=tmp_path / "spool")
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert Spool(tmp_path / "spool").listing() == []


def test_spool_is_bounded_and_counts_what_it_drops(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=2_000)
    batch = json.dumps({"events": [{"event": "server_started", "pad": "x" * 300}] * 2}).encode()
    dropped_total = 0
    for _ in range(10):
        path, removed = spool.write(batch, 2)
        assert path is not None
        dropped_total += sum(r.events for r in removed)
    sizes = sum(f.path.stat().st_size for f in spool.listing())
    assert sizes <= 2_000
    assert dropped_total == 2 * (10 - len(spool.listing()))


def test_spool_drops_reach_the_collector_as_spool_full(make_telemetry: Callable[..., Telemetry],
                                                       tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    transport = InMemoryTransport([SendResult.retry(0.5)])  # one failure; the receiver asks for a pause
    telemetry = make_telemetry(transport=transport, spool_dir=spool_dir, max_batch_size=5, flush_interval=60,
                               spool_max_bytes=6_000)  # tiny disk budget: a few batches
    for i in range(5):
        telemetry.track("model_run", model_name="resnet50", duration_ms=float(i))
    with transport.received:
        assert transport.received.wait_for(lambda: transport.payloads, timeout=10.0)
    for i in range(5, 50):  # during the pause: spooled, and the oldest pushed out of the bounded spool
        telemetry.track("model_run", model_name="resnet50", duration_ms=float(i))
    assert telemetry.flush(timeout=10.0)
    reported = sum(p["dropped"]["spool_full"] for p in transport.delivered)
    assert reported > 0
    assert reported + len(transport.events) == 50  # every event delivered or reported dropped
    assert telemetry.stats()["dropped"] == {"spool_full": reported}


def test_events_queued_behind_a_hung_send_survive_the_exit(sink: Sink, tmp_path: Path) -> None:
    """Black-holed endpoint: the process exits while a send hangs; what it tracked is on disk for next time."""

    code = textwrap.dedent("""
        import sys, blindai_telemetry
        t = blindai_telemetry.Telemetry("blindai-server", "0.6.3", endpoint=sys.argv[1], spool_dir=sys.argv[2])
        for i in range(1200):
            t.track("model_run", model_name="resnet50", duration_ms=float(i))
    """)
    env = {**os.environ, "BLINDAI_TELEMETRY_CONFIG_DIR": str(tmp_path / "cfg"), "CI": "1"}
    with black_hole() as hole:
        subprocess.run([sys.executable, "-c", code, hole, str(tmp_path / "spool")], check=True, timeout=60, env=env)
    assert Spool(tmp_path / "spool").listing()
    replay = Telemetry("blindai-server", "0.6.3", endpoint=sink.url, spool_dir=tmp_path / "spool",
                       config_dir=tmp_path / "cfg")
    try:
        assert replay.flush(timeout=10.0)
    finally:
        replay.shutdown(timeout=1.0)
    assert sorted(e["properties"]["duration_ms"] for e in sink.events()) == [float(i) for i in range(1200)]


def test_an_unwritable_spool_keeps_memory_bounded(make_telemetry: Callable[..., Telemetry],
                                                  tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    transport = InMemoryTransport(default=SendResult.retry(30.0))  # down, and asking us to wait
    telemetry = make_telemetry(transport=transport, spool_dir=tmp_path / "file" / "spool", max_batch_size=10,
                               max_queue_size=100)
    for _ in range(20):
        for _ in range(50):
            telemetry.track("server_started")
        telemetry.flush(timeout=0.01)  # wakes the worker: it tries, fails, and parks what it can
    deadline = time.monotonic() + 5
    while telemetry.stats()["cycles"] < 5 and time.monotonic() < deadline:
        telemetry.flush(timeout=0.05)
    stats = telemetry.stats()
    assert stats["pending_batches"] <= 2 and stats["queued"] <= 100
    assert stats["dropped"]["queue_full"] > 0  # the bounded queue did the dropping, and counted it


def test_a_claim_left_by_a_dead_process_or_an_earlier_one_with_our_pid_is_taken_back(tmp_path: Path) -> None:
    """A killed sender's files are not stuck forever, even when the next one has the same pid (PID 1 in a
    container restarted on the same volume)."""
    spool = Spool(tmp_path)
    path, _ = spool.write(b'{"events": [{"event": "server_started"}]}', 1)
    assert path is not None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(dead.stdout)
    claimed_by_dead = path.with_name(f"{path.name}.claimed-{dead_pid}-0123456789ab")
    os.rename(path, claimed_by_dead)
    assert [f.claimed_by for f in spool.waiting()] == [dead_pid]
    earlier_self = path.with_name(f"{path.name}.claimed-{os.getpid()}-0123456789ab")
    os.rename(claimed_by_dead, earlier_self)
    (waiting,) = spool.waiting()
    taken = spool.claim(waiting)
    assert taken is not None and spool.load(taken) == {"events": [{"event": "server_started"}]}
    assert spool.waiting() == []  # claimed by this very process now: no one else takes it


def test_the_spool_lives_in_the_user_state_dir_unless_the_config_dir_was_chosen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from blindai_telemetry import _config, _delivery
    from blindai_telemetry import environment_variables as ev

    chosen = tmp_path / "chosen"
    assert _delivery.state_dir(chosen) == chosen  # BLINDAI_TELEMETRY_CONFIG_DIR is set by the test fixture
    isolated = os.environ[ev.BLINDAI_TELEMETRY_CONFIG_DIR]
    monkeypatch.delenv(ev.BLINDAI_TELEMETRY_CONFIG_DIR)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    if sys.platform.startswith("linux"):
        assert _delivery.state_dir(_config.config_dir()) == tmp_path / "state" / "blindai-telemetry"
    assert _delivery.state_dir(chosen) == chosen  # Telemetry(config_dir=...): everything in one place
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_CONFIG_DIR, isolated)  # what the fixture checks after the test
