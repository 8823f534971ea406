"""Ids as literal lists, which DuckDB looks up one by one in a table's index.

``WHERE id IN ('a', 'b', ...)`` goes through the index; the same ids joined as a
table or an ``unnest`` are matched by scanning every row, a cost that grows
with the store rather than with the batch. Long lists go a chunk per statement.

The ids are written into the SQL text as quoted literals rather than bound as
``?`` parameters: DuckDB's Python binding spends 6-14 µs on each bound value
(it looks for pandas and numpy types on every one, and the collector keeps
pandas out), twice the cost of parsing the literal. An id holding NUL, where
DuckDB's parser would stop reading, is bound as a parameter instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

__all__ = ["IDS_PER_STATEMENT", "chunks", "in_list", "placeholders"]

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


def in_list(ids: Sequence[str], *, first: int | None = None) -> tuple[str, list[str]]:
    """What goes inside ``IN (...)`` for ``ids``, and the parameters it binds.

    Quoted literals and no parameters, unless an id holds NUL: then
    placeholders (numbered from ``first`` when given) and the ids as parameters.
    """
    if any("\x00" in i for i in ids):
        return placeholders(len(ids), first=first), list(ids)
    return ", ".join("'" + i.replace("'", "''") + "'" for i in ids), []
