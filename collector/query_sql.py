"""Run one checked read-only statement with a row cap and a time limit.

The statement runs inside ``BEGIN TRANSACTION READ ONLY`` that is always
rolled back, on a cursor of its own; a timer thread calls
``cursor.interrupt()`` when the time limit passes. Rows are read through
Arrow in batches, so a query yielding billions of rows costs only the rows
kept (DuckDB streams the result).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import duckdb

from collector.errors import CollectorError
from collector.serialize import json_value
from collector.sql_guard import CheckedSql

__all__ = [
    "SqlError",
    "SqlTimeout",
    "SqlFailed",
    "SqlResult",
    "external_access_enabled",
    "run_read_only",
]

_BATCH_ROWS = 2048


class SqlError(CollectorError):
    """Root of errors while running a checked statement.

    SqlError
    ├── SqlTimeout   interrupted at the time limit
    └── SqlFailed    DuckDB refused or failed the query (message from DuckDB)
    """


class SqlTimeout(SqlError):
    """The query ran past its time limit and was interrupted."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"query interrupted after the {timeout_s:g} s time limit; "
            "narrow it (WHERE, LIMIT) or aggregate"
        )
        self.timeout_s = timeout_s


class SqlFailed(SqlError):
    """DuckDB could not run the query; the message is DuckDB's."""


@dataclass(frozen=True)
class SqlResult:
    """What ``POST /sql`` returns."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float

    def to_json(self) -> dict[str, Any]:
        """The response body of the REST contract."""
        return {
            "columns": self.columns,
            "types": self.types,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_ms, 3),
        }


def external_access_enabled(cursor: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database still lets queries reach files and the network."""
    row = cursor.execute("SELECT current_setting('enable_external_access')").fetchone()
    return bool(row and row[0])


class _Deadline:
    """Interrupts a cursor once, unless finished first."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
        self._cursor = cursor
        self._lock = threading.Lock()
        self._done = False
        self.fired = False
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            self._cursor.interrupt()

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_read_only(
    cursor: duckdb.DuckDBPyConnection, checked: CheckedSql, *, max_rows: int, timeout_s: float
) -> SqlResult:
    """Run ``checked`` on ``cursor``; at most ``max_rows`` rows, at most ``timeout_s`` seconds."""
    started = time.perf_counter()
    columns: list[str] = []
    types: list[str] = []
    rows: list[list[Any]] = []
    truncated = False
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    deadline = _Deadline(cursor, timeout_s)
    try:
        with deadline:
            relation = cursor.sql(checked.sql)
            if relation is None:
                raise SqlFailed("the statement returned no result")
            columns = list(relation.columns)
            types = [str(t) for t in relation.types]
            reader = relation.to_arrow_reader(_BATCH_ROWS)
            try:
                for batch in reader:
                    values = [column.to_pylist() for column in batch.columns]
                    for index in range(batch.num_rows):
                        if len(rows) == max_rows:
                            truncated = True
                            break
                        rows.append([json_value(col[index]) for col in values])
                    if truncated:
                        break
            finally:
                close = getattr(reader, "close", None)
                if close is not None:
                    close()
    except duckdb.InterruptException:
        if deadline.fired:
            raise SqlTimeout(timeout_s) from None
        raise SqlFailed("query interrupted") from None
    except duckdb.Error as exc:
        if deadline.fired:
            raise SqlTimeout(timeout_s) from None
        raise SqlFailed(_first_line(exc)) from None
    finally:
        # If this fails the cursor is discarded by the caller and the transaction with it.
        with contextlib.suppress(duckdb.Error):
            cursor.execute("ROLLBACK")
    return SqlResult(columns, types, rows, truncated, (time.perf_counter() - started) * 1000)
