"""Ids as literal lists, which DuckDB looks up one by one in a table's index.

``WHERE id IN (?, ?, ...)`` goes through the index; the same ids joined as a
table or an ``unnest`` are matched by scanning every row, a cost that grows
with the store rather than with the batch. Long lists go a chunk per statement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

__all__ = ["IDS_PER_STATEMENT", "chunks", "placeholders"]

IDS_PER_STATEMENT = 500


def chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    """``ids`` in lists of at most IDS_PER_STATEMENT."""
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        yield list(ids[start : start + IDS_PER_STATEMENT])


def placeholders(count: int, *, first: int | None = None) -> str:
    """``?, ?, ...``, or numbered ``$first, ...`` when a list appears twice in a statement."""
    if first is None:
        return ", ".join("?" * count)
    return ", ".join(f"${n}" for n in range(first, first + count))
