"""Reading inside one read-only transaction, and rows as JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import duckdb

from collector.serialize import rows_to_dicts

__all__ = ["in_snapshot", "fetch_dicts"]

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
