"""Token buckets: the per-install ingestion limit and the global limit on self-service deletions.

The limits are per collector process (several collectors behind a load balancer each apply them): keeping
them exact across processes would need shared state on every request, and the limit only has to stop a
runaway sender, not meter it exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._at = clock()

    def take(self, n: float = 1.0) -> float:
        """Take `n` tokens and return 0.0, or take nothing and return the seconds to wait before retrying."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if n <= self._tokens:
            self._tokens -= n
            return 0.0
        return (n - self._tokens) / self.rate


class InstallRateLimiter:
    """One token bucket per install id, holding each install to `rate` events/s averaged over `window` s.

    The capacity (`rate * window`, 10,000 events by default) lets an install send its backlog after an
    outage at once. A bucket back at full capacity is the same as no bucket, so those are forgotten when the
    table grows: memory stays bounded by the installs that sent recently, not by all installs ever seen.
    """

    def __init__(self, rate: float, window: float, max_installs: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = rate * window
        self._clock = clock
        self._max_installs = max_installs
        self._buckets: dict[str, tuple[float, float]] = {}  # install id -> (tokens, at)

    def take(self, counts: Mapping[str, int]) -> dict[str, int]:
        """Charge each install its events, all or nothing; returns the throttled installs (empty: allowed)."""
        now = self._clock()
        refilled: dict[str, float] = {}
        throttled: dict[str, int] = {}
        for install, n in counts.items():
            tokens, at = self._buckets.get(install, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            refilled[install] = tokens
            if n > tokens:
                throttled[install] = n
        if throttled:
            return throttled
        for install, n in counts.items():
            self._buckets[install] = (refilled[install] - n, now)
        if len(self._buckets) > self._max_installs:
            self._forget_full(now)
            if len(self._buckets) > self._max_installs:
                # A flood of fresh ids: forget them all rather than grow or scan on every request. The limit
                # fails open for a moment, which only lets through what a fresh id could have sent anyway.
                self._buckets.clear()
        return {}

    def give_back(self, counts: Mapping[str, int]) -> None:
        """Return tokens taken for events that were not stored after all (the store refused or failed)."""
        for install, n in counts.items():
            if install in self._buckets:
                tokens, at = self._buckets[install]
                self._buckets[install] = (min(self.capacity, tokens + n), at)

    def retry_after(self, counts: Mapping[str, int]) -> int:
        """Whole seconds until every install in `counts` could send its events (at least 1)."""
        now = self._clock()
        wait = 0.0
        for install, n in counts.items():
            tokens, at = self._buckets.get(install, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            wait = max(wait, (min(n, self.capacity) - tokens) / self.rate)
        return max(1, math.ceil(wait))

    def _forget_full(self, now: float) -> None:
        self._buckets = {
            install: (tokens, at) for install, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate < self.capacity
        }
