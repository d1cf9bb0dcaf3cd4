"""The disclosure rules on their own: k-suppression, the noise's distribution, its key, the version pattern."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindai_telemetry.publish.disclosure import (
    DEFAULT_EPSILON,
    MAX_EPSILON,
    Disclosure,
    check_rules,
    discrete_laplace,
    is_release_version,
    key_from_seed,
    new_key,
    round_significant,
)

KEY = key_from_seed("tests")
versions = st.from_regex(r"\A[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}\Z")
values = st.one_of(versions, st.text(min_size=1, max_size=12))


def named(value: str, text: str) -> bool:
    """`value` appears in `text` as a whole token (so "0.6.3" is not found inside "10.6.31")."""
    return re.search(rf"(?<![\w.+-]){re.escape(value)}(?![\w.+-])", text) is not None


@given(counts=st.dictionaries(values, st.integers(0, 60), max_size=12), k=st.integers(2, 20),
       epsilon=st.floats(0.05, MAX_EPSILON), scope=st.text(max_size=8))
@settings(max_examples=300, deadline=None)
def test_every_published_cell_has_k_installs_and_a_value_that_passes_the_pattern(
        counts: dict[str, int], k: int, epsilon: float, scope: str) -> None:
    d = Disclosure(k, epsilon, KEY, scope)
    rows = d.table("server_versions", counts, is_release_version)
    published = {r["value"] for r in rows}
    for r in rows:
        assert counts[r["value"]] >= k and r["installs"] >= k
        assert is_release_version(r["value"])
    assert len(rows) == len(published)  # no "other" row, nothing but the published values


@given(counts=st.dictionaries(versions, st.integers(0, 40), min_size=1, max_size=8), k=st.integers(2, 12))
@settings(max_examples=200, deadline=None)
def test_suppressed_versions_never_appear_in_the_published_table(counts: dict[str, int], k: int) -> None:
    rows = Disclosure(k, DEFAULT_EPSILON, KEY, "p").table("v", counts, is_release_version)
    published = {r["value"] for r in rows}
    text = json.dumps(rows)
    for value in set(counts) - published:
        assert not named(value, text)


def test_a_count_below_k_is_never_published_whatever_the_noise() -> None:
    d = Disclosure(10, 0.1, KEY, "period")  # ε = 0.1: noise of ±20 is common, so a noisy threshold would leak
    assert all(d.count(f"cell{i}", 9) is None for i in range(2000))
    published = [d.count(f"cell{i}", 10) for i in range(2000)]
    assert all(n is None or n >= 10 for n in published)
    assert {n for n in published if n is not None} != {10}  # the figures are noisy, not the true count


def test_the_noise_is_the_same_for_the_same_data_and_fresh_for_another_period_key_or_count() -> None:
    d = Disclosure(2, 1.0, KEY, "2026-01-01/2026-03-31")
    same = [d.noise(f"c{i}", 50) for i in range(300)]
    assert same == [d.noise(f"c{i}", 50) for i in range(300)]
    for other in (Disclosure(2, 1.0, KEY, "2026-01-02/2026-04-01"), Disclosure(2, 1.0, new_key(), d.scope)):
        assert [other.noise(f"c{i}", 50) for i in range(300)] != same
    assert [d.noise(f"c{i}", 51) for i in range(300)] != same


def test_reports_of_one_period_at_two_epsilons_have_independent_noise() -> None:
    """With shared draws, the ε/2 noise would be about twice the ε one, and 2·a - b would be the true count."""
    one, half = Disclosure(2, 1.0, KEY, "p"), Disclosure(2, 0.5, KEY, "p")
    estimates = [2 * (100 + one.noise(f"c{i}", 100)) - (100 + half.noise(f"c{i}", 100)) for i in range(2000)]
    assert sum(abs(e - 100) <= 1 for e in estimates) < 0.5 * len(estimates)


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0])
def test_the_noise_is_two_sided_geometric_with_the_stated_epsilon(epsilon: float) -> None:
    n = 40_000
    draws = Counter(Disclosure(2, epsilon, KEY, "s").noise(f"c{i}", 7) for i in range(n))
    a = math.exp(-epsilon)
    for z in range(-3, 4):
        p = (1 - a) / (1 + a) * a ** abs(z)
        assert abs(draws[z] / n - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-3, (z, draws[z] / n, p)
    assert abs(sum(z * c for z, c in draws.items()) / n) < 0.05  # centred: no bias up or down


def test_discrete_laplace_covers_both_tails_from_the_bytes() -> None:
    assert discrete_laplace(b"\xff" * 8 + b"\x00" * 8, 1.0) < -20  # u1 ~ 1 (G1 = 0), u2 tiny (G2 large)
    assert discrete_laplace(b"\x00" * 8 + b"\xff" * 8, 1.0) > 20
    assert discrete_laplace(b"\xff" * 16, 1.0) == 0


@pytest.mark.parametrize(("k", "epsilon"), [(1, 1.0), (0, 1.0), (-3, 1.0), (10, 0.0), (10, -1.0),
                                            (10, math.nan), (10, MAX_EPSILON + 0.1), (10, math.inf)])
def test_rules_that_protect_nobody_are_refused(k: int, epsilon: float) -> None:
    with pytest.raises(ValueError):
        check_rules(k, epsilon)
    with pytest.raises(ValueError):
        Disclosure(k, epsilon, KEY, "s")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Disclosure(10, 1.0, b"short", "s")


@pytest.mark.parametrize("good", ["0.6.3", "1.0", "10.2.3.4", "1.0.0rc1", "2.1.post1", "3.0.0.dev4", "0.0.1a2"])
def test_release_versions_pass_the_pattern(good: str) -> None:
    assert is_release_version(good)


@pytest.mark.parametrize("bad", ["1.0.0+acme.build7", "1", "01.2", "1.2 ", " 1.2", "1.2\n", "v1.2", "1.2-acme",
                                 "1.2.3.4.5", "<script>", "1.2\u202e", "１.２", "1.2.3alpha", "99999.1", ""])
def test_versions_a_sender_could_abuse_fail_the_pattern(bad: str) -> None:
    assert not is_release_version(bad)


@given(st.text(max_size=20))
def test_every_version_that_passes_is_plain_ascii_digits_dots_and_markers(value: str) -> None:
    if is_release_version(value):
        assert re.fullmatch(r"[0-9a-z.]+", value) and not value.startswith(".")


def test_latencies_are_rounded_to_two_significant_digits() -> None:
    assert [round_significant(x) for x in (0.0, 1.234, 45.6, 123.4, 98765.0)] == [0.0, 1.2, 46.0, 120.0, 99000.0]
