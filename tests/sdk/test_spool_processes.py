"""Undelivered events kept across processes: real processes, a real receiver on 127.0.0.1, the real disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from blindai_telemetry._spool import Spool
from sdk.sinks import Sink, black_hole

#: Tracks argv[2] `model_run` events (durations offset by argv[3]) against argv[1], shuts down as at exit (1 s),
#: prints its stats as one JSON line.
TRACK = textwrap.dedent("""
    import json, sys, blindai_telemetry
    endpoint, count, offset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t = blindai_telemetry.Telemetry("blindai-server", "0.6.3", endpoint=endpoint, mode="simulation")
    for i in range(count):
        t.track("model_run", model_name="resnet50", duration_ms=float(offset + i))
    t.shutdown(timeout=1.0)
    print(json.dumps(t.stats()), flush=True)
""")


def _closed_port_url() -> str:
    with black_hole() as url:
        pass  # the port is closed again: connection refused
    return url


def _run(env: dict[str, str], *args: str, code: str = TRACK) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    stats: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return stats


def _env(config_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "BLINDAI_TELEMETRY_CONFIG_DIR": str(config_dir), "CI": "1", **extra}


def test_events_kept_while_the_collector_is_down_are_delivered_by_the_next_process_exactly_once(
        sink: Sink, tmp_path: Path) -> None:
    env = _env(tmp_path / "cfg")
    first = _run(env, _closed_port_url(), "300", "0")  # the collector is down for the whole first run
    assert first["sent"] == 0 and first["dropped"] == {}  # nothing lost: kept
    assert Spool(tmp_path / "cfg" / "spool").pending_events() == 300

    second = _run(env, sink.url, "20", "300")  # the collector is back; the next process starts
    assert second["dropped"] == {}
    arrived = sink.events()
    assert sorted(e["properties"]["duration_ms"] for e in arrived) == [float(i) for i in range(320)]
    assert len({e["event_id"] for e in arrived}) == 320  # every event once, none twice
    first_batch = sink.requests[0].body["events"]
    assert {e["session_id"] for e in first_batch} != {arrived[-1]["session_id"]}  # the earlier run's, first
    assert Spool(tmp_path / "cfg" / "spool").listing() == []


def test_the_spool_stays_within_its_bound_under_a_million_events_with_the_collector_down(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import json, sys, blindai_telemetry
        def rss():
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        t = blindai_telemetry.Telemetry("blindai-server", "0.6.3", endpoint=sys.argv[1], spool_max_bytes=2_000_000)
        for _ in range(1_000):
            t.track("model_run", model_name="resnet50", duration_ms=1.0)
        before = rss()
        for i in range(1_000_000):
            t.track("model_run", model_name="resnet50", duration_ms=float(i))
        t.flush(timeout=0.5)
        growth = rss() - before
        t.shutdown(timeout=1.0)
        print(json.dumps({**t.stats(), "growth": growth}), flush=True)
    """)
    stats = _run(_env(tmp_path / "cfg"), _closed_port_url(), code=code)
    files = Spool(tmp_path / "cfg" / "spool").listing()
    assert sum(f.path.stat().st_size for f in files) <= 2_000_000
    assert stats["growth"] < 30_000_000  # the queue's bound (10,000 events), not a million
    kept = sum(f.events for f in files)
    dropped = stats["dropped"]
    assert set(dropped) <= {"queue_full", "spool_full", "unsent_at_exit"}
    # every event is kept or counted: nothing vanished between the queue, the spool and the exit
    assert kept + sum(dropped.values()) == 1_001_000


def test_a_disabled_process_writes_no_spool_and_no_file_at_all(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(tmp_path / "cfg", BLINDAI_DISABLE_TELEMETRY="1", HOME=str(home),
               XDG_STATE_HOME=str(home / "state"), XDG_CACHE_HOME=str(home / "cache"))
    stats = _run(env, _closed_port_url(), "500", "0")
    assert stats["enqueued"] == 0
    assert list(tmp_path.iterdir()) == []  # no config dir, no spool, no state: nothing


def test_spool_false_keeps_nothing_and_counts_the_loss(tmp_path: Path) -> None:
    code = TRACK.replace('mode="simulation")', 'mode="simulation", spool=False)')
    stats = _run(_env(tmp_path / "cfg"), _closed_port_url(), "50", "0", code=code)
    assert stats["dropped"] == {"unsent_at_exit": 50}
    assert not (tmp_path / "cfg" / "spool").exists()
