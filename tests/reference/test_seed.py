"""The demo's synthetic history: rows every store accepts, within the catalogue, marked as seeded, repeatable."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from blindai_telemetry.catalogue import ERROR_KINDS, EVENTS, MODES
from blindai_telemetry.reference.seed import seed_rows
from blindai_telemetry.stores import open_store

NOW_MS = 1_790_000_000_000
DAY_MS = 86_400_000


def test_seed_rows_are_catalogue_events_marked_as_seed_within_the_period() -> None:
    rows = list(seed_rows(days=14, now_ms=NOW_MS))
    assert len(rows) > 1_000
    for row in rows:
        assert row["source"] == "seed"
        assert row["event"] in EVENTS
        assert NOW_MS - 14 * DAY_MS <= row["time"] <= NOW_MS
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


def test_seeding_twice_stores_nothing_new(tmp_path: Path) -> None:
    """Same seed, same event ids: re-running the demo on a kept --db does not duplicate its history."""
    first = list(seed_rows(days=3, now_ms=NOW_MS))
    again = list(seed_rows(days=3, now_ms=NOW_MS + 60_000))
    assert [r["event_id"] for r in first] == [r["event_id"] for r in again]
    store = open_store(db=str(tmp_path / "seed.duckdb"))
    try:
        assert store.write(first).inserted == len(first)
        result = store.write(again)
        assert (result.inserted, result.duplicates) == (0, len(again))
        assert store.summary()["events"] == len(first)
    finally:
        store.close()
