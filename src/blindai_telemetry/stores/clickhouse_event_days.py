"""The ClickHouse store's event rollup: a projection of `events` per day × filter values × event, kept by the engine.

The raw-event panels (events over time, request performance, model sizes, the summary's counts) read every event
of the range with FINAL (ClickHouse, 100 M events: 5 to 14 s a panel). `event_days` is an aggregate PROJECTION of
the `events` table: per day × app × version × mode × CI × event, the count, the seeded count, the first and last
time (of all events and of the seeded ones), and two histograms (`sumMap` of a map bucket -> count: request
durations as `stores.durations` buckets them, model sizes by power of two, server uptimes). A projection rather than a
materialized view into another table, because it lives inside each part of `events`:

- Every insert writes it with the part; deletions (a lightweight `DELETE`, for a deletion request or
  retention) rebuild it in the parts they touch (`lightweight_mutation_projection_mode = 'rebuild'`), so it
  never disagrees with the events and needs no forgetting code of its own.
- Duplicates: two collectors racing on one event id (both looked it up before either inserted) leave two rows
  in `events` until a merge collapses them (`ReplacingMergeTree`); the merge rebuilds the projection of the
  merged part from its deduplicated rows (`deduplicate_merge_projection_mode = 'rebuild'`). A materialized
  view's counts would keep such a duplicate forever; the projection counts it twice only until that merge —
  a bounded, temporary overcount (one per raced event), where a read with FINAL (which no projection serves)
  would cost the full scan this exists to avoid. ClickHouse offers no exact count of distinct event ids that
  is cheaper than reading them: `uniqExact` states would hold every id.
- ClickHouse picks it for a query whose GROUP BY, WHERE and aggregates it can compute (`optimize_use_projections`,
  on by default): the dashboard's queries spell them exactly as below, over `toDate(time)`, without FINAL.
- An older store gets it added and filled at open (`ALTER ... ADD PROJECTION`, then `MATERIALIZE PROJECTION`,
  a background mutation: until it has reached a part, ClickHouse reads that part's rows, still right).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blindai_telemetry.stores import durations

NAME = "event_days"
#: The keys, as the dashboard's queries group and filter by them.
DAY = "toDate(time)"
IS_CI = "coalesce(is_ci, false)"
KEYS = (DAY, "app", "app_version", "mode", IS_CI, "event")
#: A successful request with a duration: what the performance panel counts.
TIMED = "duration_ms IS NOT NULL AND coalesce(ok, true)"
#: The aggregates, spelled as queries must spell them for ClickHouse to answer from the projection.
EVENTS = "count()"
SEEDED = "countIf(source = 'seed')"
FIRST, LAST = "min(time)", "max(time)"
SEEDED_FIRST, SEEDED_LAST = "minIf(time, source = 'seed')", "maxIf(time, source = 'seed')"
#: (A map, not sumMap's two arrays: ClickHouse matches no array literal of a query to its projection.)
DURATIONS = f"sumMapIf(map({durations.bucket('coalesce(duration_ms, 0)', 'clickhouse')}, toUInt64(1)), {TIMED})"
SIZE_BUCKET = "toInt16(floor(log2(greatest(coalesce(model_size_bytes, 0), 1))))"
SIZES = f"sumMapIf(map({SIZE_BUCKET}, toUInt64(1)), event = 'model_uploaded' AND model_size_bytes > 0)"
#: Server uptimes at server_stopped, by bucket: the index of the first of these limits (seconds) above it.
UPTIME_LIMITS = (60, 600, 3600, 6 * 3600, 86400, 7 * 86400)
_UPTIME_BUCKET = ("toUInt8(multiIf(" + ", ".join(f"coalesce(uptime_s, 0) < {limit}, {i}" for i, limit in
                                               enumerate(UPTIME_LIMITS)) + f", {len(UPTIME_LIMITS)}))")
UPTIMES = f"sumMapIf(map({_UPTIME_BUCKET}, toUInt64(1)), event = 'server_stopped' AND uptime_s IS NOT NULL)"

PROJECTION = (f"PROJECTION {NAME} (SELECT {', '.join(KEYS)}, {EVENTS}, {SEEDED}, {FIRST}, {LAST}, {SEEDED_FIRST}, "
              f"{SEEDED_LAST}, {DURATIONS}, {SIZES}, {UPTIMES} GROUP BY {', '.join(KEYS)})")
#: Without these, ClickHouse refuses a projection on a ReplacingMergeTree, and lightweight deletes on its table.
SETTINGS = "deduplicate_merge_projection_mode = 'rebuild', lightweight_mutation_projection_mode = 'rebuild'"


def add_to_older(query: Callable[..., Any], command: Callable[..., Any]) -> bool:
    """Give an `events` table made before the projection its settings and the projection, and start filling it
    from the stored parts. Returns whether it was missing."""
    rows = query("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() "
                 "AND name = 'events'").result_rows
    if not rows or f"PROJECTION {NAME}" in str(rows[0][0]):
        return False
    command(f"ALTER TABLE events MODIFY SETTING {SETTINGS}")
    command(f"ALTER TABLE events ADD {PROJECTION.replace('PROJECTION', 'PROJECTION IF NOT EXISTS', 1)}")
    command(f"ALTER TABLE events MATERIALIZE PROJECTION {NAME}", settings={"mutations_sync": 0})
    return True
