"""`python -m benchmarks.soak.store_only [--events 140000]`: the collector's memory growth, without the collector.

Writes native events straight into a fresh `DuckDBStore` (decoded and checked as the collector does, 100 per
write, checkpointing when idle as its writer does) and prints this process's VmRSS and DuckDB's own memory
accounting (`duckdb_memory()`) as the store fills: the soak's collector grows the same way, so its growth
follows the data stored, not time or requests.
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
from pathlib import Path

import msgspec

from benchmarks.ingest.payloads import EVENTS_PER_BATCH, make_batches
from benchmarks.ingest.run import _rss_kb
from blindai_telemetry.collector.formats import native
from blindai_telemetry.collector.validate import check_rows
from blindai_telemetry.stores import DuckDBStore


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak.store_only", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=140_000)
    args = parser.parse_args()
    batches = args.events // EVENTS_PER_BATCH
    every = max(1, batches // 7)
    with tempfile.TemporaryDirectory(prefix="blindai-soak-store-") as tmp:
        store = DuckDBStore(Path(tmp) / "store.duckdb")
        try:
            print("| events stored | RSS MB | DuckDB's own MB |\n|---|---|---|")
            for i, body in enumerate(make_batches(batches, seed=1)):
                payload = msgspec.json.decode(gzip.decompress(body))
                rows = check_rows(native.decode(payload).rows, source="native",
                                  received_at_ms=int(time.time() * 1000), strict=True).rows
                store.write(rows)
                store.maintain(idle=True)
                if i % every == 0 or i == batches - 1:
                    duck = store.fetch("SELECT sum(memory_usage_bytes) AS b FROM duckdb_memory()")[0]["b"]
                    print(f"| {(i + 1) * EVENTS_PER_BATCH:,} | {_rss_kb(os.getpid(), 'VmRSS') / 1024:.0f} | "
                          f"{int(duck) / 2**20:.0f} |")
        finally:
            store.close()


if __name__ == "__main__":
    main()
