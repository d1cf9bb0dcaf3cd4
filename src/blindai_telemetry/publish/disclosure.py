"""What the public report may show: k-suppression and keyed discrete-Laplace noise, in one place.

The method (docs/privacy.md, "The public usage report"):

- **k**: a figure is published only when at least `k` distinct installs stand behind it (the *true* count).
  Thresholding on the noisy count alone would let a version used by 2 installs through whenever its noise came
  out at +8, and name it; the true-count test is what makes "every published value comes from ≥ k installs"
  hold. The noisy figure must reach `k` as well, so no published number sits below the threshold.
- **ε**: every published count is the true count plus two-sided geometric (discrete Laplace) noise,
  P(z) ∝ exp(-ε·|z|). One install changes any single count by at most 1, so each count is ε-differentially
  private; a suppressed cell cannot be recovered by subtracting the published cells from a published total
  because no published figure is exact.
- **Keyed noise**: the noise of a cell is a pseudo-random function (HMAC-SHA256) of a secret key the operator
  keeps (made with `secrets`), the period, ε, the cell and its true count. Publishing the same data again gives
  the same figures, so averaging repeated reports learns nothing; data that changed gets fresh noise, so the
  difference of two reports is not the exact change either.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_K = 10
MIN_K = 2
#: ε of every published count when `--epsilon` is not given: noise of ±1 or more on about 46% of figures.
DEFAULT_EPSILON = 1.0
#: Above this, the noise is almost always 0 (ε = 5: 99% of figures exact) and the figures could be differenced.
MAX_EPSILON = 5.0
KEY_BYTES = 32

#: A release version a sender may report and the report may name: PEP 440's public part without leading zeros
#: (`0.6.3`, `1.0.0rc1`, `2.1.post1`). No local part (`+acme.build7` can name a customer), no letters beyond the
#: pre/post/dev markers, at least major.minor (so a version never reads like a count).
VERSION_PATTERN = re.compile(
    r"(0|[1-9][0-9]{0,3})(\.(0|[1-9][0-9]{0,3})){1,3}((a|b|rc)(0|[1-9][0-9]{0,3}))?"
    r"(\.post(0|[1-9][0-9]{0,3}))?(\.dev(0|[1-9][0-9]{0,3}))?")


def is_release_version(value: str) -> bool:
    """True for a version string the report may publish (once it passes k)."""
    return VERSION_PATTERN.fullmatch(value) is not None


def new_key() -> bytes:
    """A fresh secret key for the noise (the operator keeps it: see `Disclosure`)."""
    return secrets.token_bytes(KEY_BYTES)


def key_from_seed(seed: str) -> bytes:
    """A key derived from a public seed: reproducible figures for tests and audits. Anyone who knows the seed
    can compute the noise and remove it, so a report published with a seed is as good as exact."""
    return hashlib.sha256(b"blindai-telemetry publish seed\0" + seed.encode()).digest()


def discrete_laplace(digest: bytes, epsilon: float) -> int:
    """A draw of two-sided geometric noise, P(z) = (1-a)/(1+a)·a^|z| with a = exp(-ε), from 16 random bytes:
    the difference of two geometric variables, each by inversion (P(floor(-ln u / ε) >= g) = a^g)."""
    draws = []
    for i in (0, 8):
        u = ((int.from_bytes(digest[i:i + 8], "big") >> 11) + 1) / 2**53  # uniform in (0, 1]
        draws.append(math.floor(-math.log(u) / epsilon))
    return draws[0] - draws[1]


def round_significant(value: float, digits: int = 2) -> float:
    """`value` to `digits` significant digits: latency figures are coarse, never one install's exact timing."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def check_rules(k: int, epsilon: float) -> None:
    """ValueError naming the problem when `k` or `epsilon` would not protect anyone."""
    if k < MIN_K:
        raise ValueError(f"k must be at least {MIN_K} (a figure from one install is that install's data), not {k}")
    if not 0 < epsilon <= MAX_EPSILON:  # also refuses NaN
        raise ValueError(f"epsilon must be above 0 and at most {MAX_EPSILON:g} "
                         f"(larger leaves the figures almost exact), not {epsilon:g}")


@dataclass(frozen=True)
class Disclosure:
    """The rules of one publication: `k`, `epsilon`, the operator's secret `key`, and the `scope` (the period)
    whose figures get their own noise."""

    k: int
    epsilon: float
    key: bytes = field(repr=False)
    scope: str
    #: The key comes from a public seed (`key_from_seed`): the page and report.json say the noise can be removed.
    seeded: bool = False

    def __post_init__(self) -> None:
        check_rules(self.k, self.epsilon)
        if len(self.key) < 16:
            raise ValueError("the noise key must hold at least 16 bytes")

    def noise(self, cell: str, true: int) -> int:
        """The noise of `cell` when its true count is `true`: the same every time for the same data."""
        # ε is in the message: draws shared by two reports of one period at ε and ε/2 would make one noise about
        # twice the other, and 2·(first figure) - (second) would give the true count back within ±1.
        message = "\0".join((self.scope, repr(self.epsilon), cell, str(true))).encode()
        return discrete_laplace(hmac.new(self.key, message, hashlib.sha256).digest(), self.epsilon)

    def count(self, cell: str, true: int) -> int | None:
        """The published figure of a count of distinct installs, or None when it must be suppressed."""
        if true < self.k:
            return None
        noisy = true + self.noise(cell, true)
        return noisy if noisy >= self.k else None

    def table(self, name: str, counts: Mapping[str, int], allowed: Callable[[str], bool]) -> list[dict[str, Any]]:
        """`[{"value", "installs"}, ...]` of the values that pass `allowed` (a closed vocabulary or the version
        pattern) and k, largest first. Nothing else is returned: no "other" row, no count of what was left out."""
        published: list[tuple[int, str]] = []
        for value, true in counts.items():
            if allowed(value) and (n := self.count(f"{name}\0{value}", true)) is not None:
                published.append((n, value))
        published.sort(key=lambda p: (-p[0], p[1]))
        return [{"value": value, "installs": n} for n, value in published]

    def method(self) -> str:
        """One paragraph saying how the figures were protected (the page and report.json carry it)."""
        warning = (" This report was made with a public seed, for tests or audits: anyone who knows the seed can "
                   "remove the noise, so it must not be published." if self.seeded else "")
        return (f"Every figure counts distinct installs and is published only when at least {self.k} installs "
                f"stand behind it; values below that are left out entirely, not even named. Every published "
                f"count has random noise added (two-sided geometric, ε = {self.epsilon:g} per figure), so no "
                "figure is exact and none can be subtracted from another to recover a hidden one. The noise "
                "comes from a secret key the publisher keeps: publishing the same data again gives the same "
                f"figures. Request latencies are shown only for groups of at least {self.k} installs, rounded to "
                f"two significant digits.{warning}")
