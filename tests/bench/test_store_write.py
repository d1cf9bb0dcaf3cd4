"""The DuckDB store-write breakdown really runs the store's statements, so it cannot rot unnoticed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from benchmarks.ingest import store_write

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", store_write.MODES)
def test_every_event_is_written_and_every_phase_timed(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "bench.duckdb")
    per_event, checkpoints = store_write.run(events=400, group=100, stored=500, mode=mode, idle_bytes=1, path=path)
    assert set(per_event) == set(store_write.PHASES)
    assert all(us >= 0 for us in per_event.values()) and per_event["events"] > 0
    assert checkpoints == 4  # a 1-byte threshold: the writer's idle checkpoint after every commit
    with duckdb.connect(path) as conn:
        events = conn.execute("SELECT count(DISTINCT event_id) FROM events").fetchall()[0][0]
        tables = {name for (name,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert events == 500 + 400
        key_tables = sorted(name for name in tables if name.startswith("event_keys"))
        # one key per stored event, the prefilled ones included; none without deduplication
        keys = sum(conn.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in key_tables)
        assert keys == (0 if mode == "none" else events)
        assert len(key_tables) == {"window": 2, "primary-key": 1, "none": 0}[mode]
