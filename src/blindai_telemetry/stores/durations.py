"""Request durations as a log-bucketed histogram: mergeable across days and collectors, the same on every store.

Exact percentiles need every duration of the range (ClickHouse, 100 M events: 5 to 14 s a panel). A histogram of
bucket -> count adds up across days, versions and parts, so a rollup can keep it per day. Bucket `j` holds the
durations whose log2 rounds to `j / STEPS`: it spans [2^((j - 0.5) / STEPS), 2^((j + 0.5) / STEPS)) ms and stands
for 2^(j / STEPS), within `RELATIVE_ERROR` (1.09 %) of every duration in it. Durations under 2^-10 ms (1 µs),
zero included, go to the lowest bucket.

`percentiles` interpolates between the ranks around each percentile as DuckDB's `quantile_cont` does, over the
buckets' values: each is within `RELATIVE_ERROR` of the duration at that rank, so the answer is within it of the
exact interpolated percentile. Both engines bucket with the same SQL (`bucket`); a duration within an ulp of a
bucket's edge could fall on either side of it in the two engines' log2, a chance of about 1 in 10^13.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate

#: Buckets per doubling.
STEPS = 32
#: The largest relative distance between a duration and the value of its bucket: 2^(1 / (2 STEPS)) - 1.
RELATIVE_ERROR = 2 ** (1 / (2 * STEPS)) - 1
_SMALLEST = 2.0**-10


def bucket(column: str, dialect: str) -> str:
    """SQL: the bucket of a (non-null) duration in ms, as a 16-bit integer."""
    expr = f"floor(log2(greatest({column}, {_SMALLEST!r})) * {STEPS} + 0.5)"
    return f"toInt16({expr})" if dialect == "clickhouse" else f"CAST({expr} AS SMALLINT)"


def value(j: int) -> float:
    """The duration (ms) bucket `j` stands for."""
    return float(2 ** (j / STEPS))


def percentiles(buckets: Sequence[int], counts: Sequence[int], qs: Sequence[float]) -> list[float]:
    """The `qs` (0..1) percentiles of a histogram (`buckets` ascending, their `counts`), interpolated between
    ranks as `quantile_cont` does; [] when it is empty."""
    cumulative = list(accumulate(int(c) for c in counts))
    if not cumulative or cumulative[-1] == 0:
        return []
    last = cumulative[-1] - 1

    def at(rank: int) -> float:  # the value of the bucket holding the rank-th duration (0-based)
        return value(int(buckets[bisect_left(cumulative, rank + 1)]))

    out = []
    for q in qs:
        position = q * last
        low = int(position)
        below = at(low)
        out.append(below + (position - low) * (at(min(low + 1, last)) - below) if position > low else below)
    return out
