"""Reading inside one read-only transaction, and rows as JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar

import duckdb

from collector.serialize import rows_to_dicts

__all__ = [
    "in_snapshot",
    "fetch_dicts",
    "newest",
    "has_step_index",
    "without_indexes",
    "parse_iso",
]

T = TypeVar("T")


def in_snapshot(cursor: duckdb.DuckDBPyConnection, fn: Callable[[], T]) -> T:
    """Run ``fn`` inside one read-only transaction on ``cursor``."""
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    try:
        return fn()
    finally:
        cursor.execute("ROLLBACK")


def fetch_dicts(
    cursor: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    cursor.execute(sql, list(params))
    columns = [d[0] for d in cursor.description or []]
    return rows_to_dicts(columns, cursor.fetchall())


def newest(cursor: duckdb.DuckDBPyConnection, table: str, column: str) -> Any:
    """The largest non-NULL ``column`` of ``table`` (None when there is none).

    ``ORDER BY ... DESC LIMIT 1`` rather than ``max()``: DuckDB's top-N skips the
    row groups whose min/max cannot beat the best value found (1 ms at 1M runs,
    where ``max()`` reads the whole column: 5-17 ms). ``table`` and ``column``
    are this module's callers' constants, never user input.
    """
    row = cursor.execute(
        f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column} DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


_HAS_STEP_INDEX = """
    SELECT 1 FROM duckdb_indexes()
    WHERE index_name = 'agent_steps_run_id' AND database_name = current_database()
"""


# Set while a reader that knows its store has no indexes (the lake's) calls a
# query function: asking DuckDB's catalog there costs 5-13 ms (it lists the
# lake's catalog too), twice per API call.
_NO_INDEXES: ContextVar[bool] = ContextVar("no_indexes", default=False)


def has_step_index(cursor: duckdb.DuckDBPyConnection) -> bool:
    """True in a collector's file (indexes on run ids), False over a lake (none)."""
    if _NO_INDEXES.get():
        return False
    return cursor.execute(_HAS_STEP_INDEX).fetchone() is not None


@contextmanager
def without_indexes() -> Iterator[None]:
    """Within it, ``has_step_index`` answers False without asking."""
    token = _NO_INDEXES.set(True)
    try:
        yield
    finally:
        _NO_INDEXES.reset(token)


def parse_iso(value: Any) -> datetime | None:
    """A time as the API serialises it (ISO 8601, ``Z``) back to naive UTC."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).removesuffix("Z"))
