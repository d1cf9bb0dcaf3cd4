"""The demo's synthetic history: rows every store accepts, within the catalogue, marked as seeded, repeatable,
ending before today, with a funnel that loses servers at each step."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from blindai_telemetry.catalogue import ERROR_KINDS, EVENTS, MODES
from blindai_telemetry.reference.seed import seed_rows
from blindai_telemetry.stores import open_store

NOW_MS = 1_790_000_000_000  # 2026-09-21 14:13:20 UTC
DAY_MS = 86_400_000
TODAY_MS = 1_789_948_800_000  # 2026-09-21 00:00 UTC


def test_seed_rows_are_catalogue_events_marked_as_seed_within_the_period() -> None:
    rows = list(seed_rows(days=14, now_ms=NOW_MS))
    assert len(rows) > 1_000
    for row in rows:
        assert row["source"] == "seed"
        assert row["event"] in EVENTS
        assert TODAY_MS - 14 * DAY_MS <= row["time"] < TODAY_MS
        assert row["mode"] is None or row["mode"] in MODES
        if row["event"] in ("model_uploaded", "model_run"):
            assert (row["error_kind"] is None) == row["ok"]
            assert row["error_kind"] is None or row["error_kind"] in ERROR_KINDS
    servers = {r["install_id"] for r in rows if r["app"] == "blindai-server"}
    clients = {r["install_id"] for r in rows if r["app"] == "blindai-client"}
    assert {r["client_install_id"] for r in rows if r["event"] == "model_run"} <= clients
    assert {r["mode"] for r in rows if r["event"] == "server_started"} == set(MODES)
    counts = Counter(r["event"] for r in rows)
    assert counts["server_started"] == counts["server_stopped"] and len(servers) > 5
    assert counts["model_run"] > counts["model_uploaded"] > counts["model_deleted"] > 0


def test_seeded_rows_are_whole_days_ending_where_today_begins() -> None:
    """Today is left to observed events: the history fills the `days` UTC days before today, up to today's
    first millisecond and not into it, wherever in the day the clock is."""
    for now_ms in (TODAY_MS, NOW_MS, TODAY_MS + DAY_MS - 1):
        rows = list(seed_rows(days=14, now_ms=now_ms))
        days = {row["time"] // DAY_MS for row in rows}
        assert days == set(range(TODAY_MS // DAY_MS - 14, TODAY_MS // DAY_MS)), now_ms
        assert max(row["received_at"] for row in rows) < TODAY_MS
    assert list(seed_rows(days=3, now_ms=TODAY_MS)) == list(seed_rows(days=3, now_ms=TODAY_MS + DAY_MS - 1))


def test_seeded_funnel_loses_servers_at_each_step() -> None:
    """Some servers are started and never get a model uploaded, some get one uploaded and never run: the distinct
    servers per step (each counted among those that did the step before) strictly decrease."""
    installs: dict[str, set[str]] = defaultdict(set)
    for row in seed_rows(days=28, now_ms=NOW_MS):
        if row["app"] == "blindai-server":
            installs[row["event"]].add(row["install_id"])
    started = installs["server_started"]
    uploaded = installs["model_uploaded"] & started
    ran = installs["model_run"] & uploaded
    assert len(started) > len(uploaded) > len(ran) > len(started) / 2, (len(started), len(uploaded), len(ran))
    assert installs["model_run"] <= uploaded  # no server runs a model it was never sent


def test_seeding_twice_stores_nothing_new(tmp_path: Path) -> None:
    """Same seed and days, same event ids, even on another day: re-running the demo on a kept --db does not
    duplicate its history."""
    first = list(seed_rows(days=3, now_ms=NOW_MS))
    again = list(seed_rows(days=3, now_ms=NOW_MS + DAY_MS + 60_000))
    assert [r["event_id"] for r in first] == [r["event_id"] for r in again]
    store = open_store(db=str(tmp_path / "seed.duckdb"))
    try:
        assert store.write(first).inserted == len(first)
        result = store.write(again)
        assert (result.inserted, result.duplicates) == (0, len(again))
        assert store.summary()["events"] == len(first)
    finally:
        store.close()
