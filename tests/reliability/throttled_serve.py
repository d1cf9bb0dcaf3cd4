"""`python throttled_serve.py RATE SERVE-ARGS...`: the real `blindai-telemetry serve`, on a DuckDB store that
commits at most RATE events/s, so that a test can offer 10x what the store sustains from one shared machine.

Only `open_store` is replaced (by a `DuckDBStore` whose writes are paced after they commit); the command line,
uvicorn, the ingestion path and the writer's buffer are the real ones.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from blindai_telemetry import stores
from blindai_telemetry.cli.serve import serve
from blindai_telemetry.stores import DuckDBStore, WriteResult


class ThrottledDuckDBStore(DuckDBStore):
    rate = 1_000.0

    def write(self, rows: Sequence[Any]) -> WriteResult:
        started = time.monotonic()
        result = super().write(rows)
        time.sleep(max(0.0, len(rows) / self.rate - (time.monotonic() - started)))
        return result


def main() -> None:
    ThrottledDuckDBStore.rate = float(sys.argv[1])

    def open_store(db: str | None = None, url: str | None = None) -> DuckDBStore:
        assert db is not None and url is None, "the throttled store is a DuckDB file (--db)"
        return ThrottledDuckDBStore(db)

    stores.open_store = open_store  # type: ignore[assignment]
    serve.main(sys.argv[2:], prog_name="throttled_serve")


if __name__ == "__main__":
    main()
