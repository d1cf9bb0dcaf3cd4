"""When to try again after a failed send: exponential backoff with full jitter, `Retry-After`, and a pause
(circuit open) after repeated failures, so that a fleet facing a dead collector neither hammers it nor
retries in lockstep when it comes back."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
#: After this many failures in a row the endpoint is presumed down: pause instead of hammering it.
CIRCUIT_THRESHOLD = 5
CIRCUIT_PAUSE = 60.0
CIRCUIT_PAUSE_CAP = 900.0


class Backoff:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[float, float], float] = random.uniform) -> None:
        self._clock = clock
        self._jitter = jitter
        self.failures = 0
        #: Monotonic time before which no attempt should be made (0: none pending).
        self.resume_at = 0.0
        #: Monotonic time before which the receiver asked us not to come back (`Retry-After`).
        self.receiver_until = 0.0

    @property
    def explicit(self) -> bool:
        """The receiver's own wait (`Retry-After`) is still running: even flush() honours it. Our circuit pause
        beyond it is ours alone, which flush() may cut short — after a run of 429s the pause grew to 60 s and
        more, and a healed endpoint then got nothing even from an explicit flush() or the flush at exit."""
        return self._clock() < self.receiver_until

    def failed(self, retry_after: float | None = None) -> float:
        """Record one failure; returns the delay before the next attempt."""
        self.failures += 1
        if retry_after is not None:
            delay = retry_after
            self.receiver_until = self._clock() + retry_after
        else:
            # Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): spreads the retries of
            # a fleet that failed together.
            delay = self._jitter(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (self.failures - 1)))
            self.receiver_until = 0.0
        if self.failures >= CIRCUIT_THRESHOLD:
            pause = min(CIRCUIT_PAUSE_CAP, CIRCUIT_PAUSE * 2 ** min(self.failures - CIRCUIT_THRESHOLD, 16))
            delay = max(delay, pause)
        self.resume_at = self._clock() + delay
        return delay

    def answered(self) -> None:
        """The receiver answered (accepted or refused): it is up."""
        self.failures, self.resume_at, self.receiver_until = 0, 0.0, 0.0

    def remaining(self) -> float:
        """Seconds until the next attempt is due (0 when it is)."""
        return max(0.0, self.resume_at - self._clock())
