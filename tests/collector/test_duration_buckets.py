"""Percentiles from bucket counts: a part kept in order plus new counts equals the whole."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from collector.duration_buckets import (
    Bucket,
    RankedCounts,
    ordered_counts,
    quantile_cont,
    quantile_cont_with,
)

_FRACTIONS = (0.0, 0.05, 0.5, 0.95, 1.0)


def _counts(pick: random.Random, n: int) -> Counter[Bucket]:
    counts: Counter[Bucket] = Counter()
    for _ in range(n):
        sign = pick.choice((-1, 0, 1, 1, 1))
        counts[(sign, None if sign == 0 else pick.randint(-40, 400))] += pick.randint(1, 50)
    return counts


@pytest.mark.parametrize("seed", range(20))
def test_kept_order_plus_new_counts_equals_the_sum(seed: int) -> None:
    pick = random.Random(seed)
    kept = _counts(pick, pick.choice((0, 1, 30, 600)))
    more = _counts(pick, pick.choice((0, 1, 5, 80)))
    more.update(dict.fromkeys(list(kept)[:3], 7))  # buckets in both parts add up
    expected = quantile_cont(kept + more, _FRACTIONS)
    assert quantile_cont_with(ordered_counts(kept), more, _FRACTIONS) == expected
    # Kept with its running counts (the folded stats' form): the same answers.
    assert quantile_cont_with(RankedCounts.of(ordered_counts(kept)), more, _FRACTIONS) == expected


def test_nothing_counted_has_no_percentile() -> None:
    assert quantile_cont_with([], Counter(), (0.5,)) == [None]
    assert quantile_cont_with([], Counter({(1, 3): 0}), (0.5,)) == [None]


def test_ordered_counts_go_by_value() -> None:
    counts = Counter({(1, 5): 1, (-1, 2): 1, (0, None): 1, (-1, 9): 1, (1, -3): 1})
    assert [b for b, _ in ordered_counts(counts)] == [(-1, 9), (-1, 2), (0, None), (1, -3), (1, 5)]
