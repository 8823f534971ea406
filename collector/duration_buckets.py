"""Durations counted in log-spaced buckets, and percentiles read back from the counts.

A bucket holds the values ``v`` with ``GAMMA**(i-1) < |v| <= GAMMA**i`` (and their
sign); zero has a bucket of its own. Its representative value is within
``RELATIVE_ERROR`` of every value in it (DDSketch's mapping), so a percentile read
from the counts is within that relative error of the exact one, interpolation
included: ``quantile_cont`` mixes two neighbouring values with weights that sum
to one, and each is off by at most ``RELATIVE_ERROR`` of itself.

Buckets are computed in SQL (:func:`bucket_sql`) and read back here; pure otherwise.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

__all__ = [
    "RELATIVE_ERROR",
    "GAMMA",
    "Bucket",
    "bucket_sql",
    "bucket_of",
    "bucket_value",
    "quantile_cont",
    "ordered_counts",
    "RankedCounts",
    "quantile_cont_with",
    "exact_quantile_cont",
]

RELATIVE_ERROR = 0.005
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LN_GAMMA = math.log(GAMMA)

# (sign, index): sign is -1, 0 or 1; index is None for zero.
Bucket = tuple[int, int | None]


def bucket_sql(column: str, sign: str = "sign", index: str = "bucket") -> str:
    """Two SQL expressions named ``sign`` and ``index``: ``column``'s bucket (NULL stays NULL)."""
    return (
        f"CAST(sign({column}) AS INTEGER) AS {sign}, "
        f"CASE WHEN {column} <> 0 THEN CAST(ceil(ln(abs({column})) / {_LN_GAMMA!r}) AS INTEGER) "
        f"END AS {index}"
    )


def bucket_of(value: float) -> Bucket:
    """``value``'s bucket, as :func:`bucket_sql` computes it in SQL (the same operations)."""
    if value == 0:
        return 0, None
    return (1 if value > 0 else -1), math.ceil(math.log(abs(value)) / _LN_GAMMA)


def bucket_value(bucket: Bucket) -> float:
    """The value that stands for every value of ``bucket``."""
    sign, index = bucket
    if sign == 0 or index is None:
        return 0.0
    return sign * 2 * GAMMA**index / (GAMMA + 1)


def quantile_cont(counts: Mapping[Bucket, int], fractions: tuple[float, ...]) -> list[float | None]:
    """DuckDB's ``quantile_cont`` (linear between the two nearest ranks) over bucket counts."""
    return _interpolate(ordered_counts(counts), fractions, bucket_value)


def ordered_counts(counts: Mapping[Bucket, int]) -> list[tuple[Bucket, int]]:
    """The buckets with a count, and their counts, by value (for :func:`quantile_cont_with`)."""
    return sorted(((b, n) for b, n in counts.items() if n > 0), key=lambda item: _order(item[0]))


@dataclass(frozen=True)
class RankedCounts:
    """Buckets in order of value with their running counts, so a rank is found by bisection.

    Kept for a large part whose counts do not change: a percentile of it plus a few
    new counts then costs a few bisections, not a walk over every bucket.
    """

    buckets: list[Bucket]
    keys: list[tuple[int, int]]
    running: list[int]  # the counts of every bucket up to and including this one

    @classmethod
    def of(cls, ordered: Sequence[tuple[Bucket, int]]) -> RankedCounts:
        """From :func:`ordered_counts`' list."""
        return cls(
            [b for b, _ in ordered],
            [_order(b) for b, _ in ordered],
            list(accumulate(n for _, n in ordered)),
        )

    @property
    def total(self) -> int:
        return self.running[-1] if self.running else 0

    def up_to(self, key: tuple[int, int]) -> int:
        """How many values lie in buckets ordered at or before ``key``."""
        at = bisect_right(self.keys, key)
        return self.running[at - 1] if at else 0

    def first_past(self, rank: int, other: RankedCounts) -> int | None:
        """The first of these buckets after which, with ``other``'s counts, more than
        ``rank`` values lie; None when none is."""
        low, high = 0, len(self.keys)
        while low < high:
            middle = (low + high) // 2
            if self.running[middle] + other.up_to(self.keys[middle]) > rank:
                high = middle
            else:
                low = middle + 1
        return low if low < len(self.keys) else None


def quantile_cont_with(
    ordered: Sequence[tuple[Bucket, int]] | RankedCounts,
    more: Mapping[Bucket, int],
    fractions: tuple[float, ...],
) -> list[float | None]:
    """:func:`quantile_cont` of ``ordered`` (from :func:`ordered_counts`, or kept as
    :class:`RankedCounts`) plus the counts ``more``.

    Only ``more`` is sorted; each rank is looked up in both parts by bisection
    (the bucket holding it is the first, in order of value, with more values at
    or before it than the rank).
    """
    kept = ordered if isinstance(ordered, RankedCounts) else RankedCounts.of(ordered)
    new = RankedCounts.of(ordered_counts(more))
    total = kept.total + new.total
    if total == 0:
        return [None for _ in fractions]

    def at_rank(rank: int) -> Bucket:
        found = [
            (part.keys[at], part.buckets[at])
            for part, other in ((kept, new), (new, kept))
            if (at := part.first_past(rank, other)) is not None
        ]
        return min(found)[1]

    answers: list[float | None] = []
    for q in fractions:
        position = q * (total - 1)  # as DuckDB: (n - 1) * q, then floor and ceil
        low = bucket_value(at_rank(math.floor(position)))
        high = bucket_value(at_rank(math.ceil(position)))
        answers.append(low + (high - low) * (position - math.floor(position)))
    return answers


def exact_quantile_cont(
    counts: Mapping[int, int], fractions: tuple[float, ...]
) -> list[float | None]:
    """The same over exact integer values and their counts (steps per run): no error."""
    ordered = sorted(v for v, n in counts.items() if n > 0)
    return _interpolate([(v, counts[v]) for v in ordered], fractions, float)


def _order(bucket: Bucket) -> tuple[int, int]:
    # Buckets sort by their values without computing them: by sign, then index times sign.
    sign, index = bucket
    return sign, sign * (index or 0)


def _interpolate(
    ordered: list[tuple[Any, int]], fractions: tuple[float, ...], value: Callable[[Any], float]
) -> list[float | None]:
    total = sum(n for _, n in ordered)
    if total == 0:
        return [None for _ in fractions]
    answers: list[float | None] = []
    for q in fractions:
        position = q * (total - 1)  # as DuckDB: (n - 1) * q, then floor and ceil
        low = value(_at_rank(ordered, math.floor(position)))
        high = value(_at_rank(ordered, math.ceil(position)))
        answers.append(low + (high - low) * (position - math.floor(position)))
    return answers


def _at_rank(ordered: list[tuple[Any, int]], rank: int) -> Any:
    seen = 0
    for key, n in ordered:
        seen += n
        if rank < seen:
            return key
    return ordered[-1][0]
