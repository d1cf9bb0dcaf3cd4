"""`open_store`: naming a store by `--db PATH` or `--store URL`, and keeping the package import light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from blindai_telemetry.stores import InMemoryStore, open_store
from blindai_telemetry.stores.duckdb import DuckDBStore


def test_a_db_path_opens_duckdb(tmp_path: Path) -> None:
    store = open_store(db=str(tmp_path / "t.duckdb"))
    assert isinstance(store, DuckDBStore) and store.dialect == "duckdb"
    store.close()


def test_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store(url="memory://"), InMemoryStore)
    store = open_store(url=f"duckdb://{tmp_path / 'u.duckdb'}")
    assert isinstance(store, DuckDBStore)
    store.close()


@pytest.mark.parametrize(
    ("db", "url", "message"),
    [
        (None, None, "exactly one"),
        ("x.duckdb", "memory://", "exactly one"),
        ("", None, "empty"),
        (None, "postgres://host/db", "unknown store URL scheme"),
        (None, "/just/a/path", "not a store URL"),
    ],
)
def test_bad_store_names_raise_value_error(db: str | None, url: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(db=db, url=url)


def test_importing_stores_does_not_import_the_engines() -> None:
    """The SDK and the CLI's user commands import this package; they must not pay for DuckDB or ClickHouse."""
    code = (
        "import sys, blindai_telemetry.stores\n"
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'clickhouse_connect', 'chdb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_chdb_url_opens_clickhouse_in_process(chdb_path: Path) -> None:
    from blindai_telemetry.stores.clickhouse import ClickHouseStore

    store = open_store(url=f"chdb://{chdb_path}?database=open_store_url")
    try:
        assert isinstance(store, ClickHouseStore) and store.dialect == "clickhouse"
        assert store.database == "open_store_url"
    finally:
        store.close()
