"""A minimal DuckDB `Store` for the dashboard tests until the stores helper's `DuckDBStore` lands.

It creates the public `events` table from `EVENT_COLUMNS` and answers `fetch()`; nothing else is needed by
the query API. Replaced by `blindai_telemetry.stores.open_store` as soon as that exists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa

from blindai_telemetry.stores.base import EVENT_COLUMNS, Deletion, Row, Store, WriteResult

_ARROW = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("ms"), "DOUBLE": pa.float64(), "BIGINT": pa.int64(),
          "INTEGER": pa.int32(), "BOOLEAN": pa.bool_(), "JSON": pa.string()}


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).replace(tzinfo=None)


class ShimDuckDBStore(Store):
    dialect = "duckdb"

    def __init__(self, path: str) -> None:
        self._con = duckdb.connect(path)
        cols = ", ".join(f"{c.name} {c.type}" for c in EVENT_COLUMNS)
        self._con.execute(f"CREATE TABLE IF NOT EXISTS events ({cols})")

    def write(self, rows: Sequence[Row]) -> WriteResult:
        data: dict[str, list[Any]] = {c.name: [] for c in EVENT_COLUMNS}
        for row in rows:
            for c in EVENT_COLUMNS:
                v = row.get(c.name)
                if c.type == "TIMESTAMP" and v is not None:
                    v = _utc(int(v))
                if c.type == "JSON" and v is not None:
                    v = json.dumps(v)
                data[c.name].append(v)
        table = pa.table({c.name: pa.array(data[c.name], _ARROW[c.type]) for c in EVENT_COLUMNS})
        self._con.register("incoming", table)
        self._con.execute("INSERT INTO events SELECT * FROM incoming")
        self._con.unregister("incoming")
        return WriteResult(inserted=len(rows), duplicates=0)

    def delete_installs(self, install_ids: Sequence[str]) -> int:
        raise NotImplementedError

    def delete_older_than(self, cutoff_ms: int) -> int:
        raise NotImplementedError

    def summary(self) -> dict[str, int]:
        n, m = self._con.execute("SELECT count(*), count(DISTINCT install_id) FROM events").fetchone()  # type: ignore[misc]
        return {"events": int(n), "installs": int(m)}

    def rows(self, install_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        raise NotImplementedError

    def record_deletion(self, deletion: Deletion) -> None:
        raise NotImplementedError

    def get_deletion(self, deletion_id: str) -> Deletion | None:
        raise NotImplementedError

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self._con.cursor()
        try:
            res = cur.execute(sql, list(params))
            names = [d[0] for d in res.description]
            return [dict(zip(names, r, strict=True)) for r in res.fetchall()]
        finally:
            cur.close()

    def close(self) -> None:
        self._con.close()
