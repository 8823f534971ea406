"""Run one checked read-only statement with a row cap and a time limit.

The statement runs inside ``BEGIN TRANSACTION READ ONLY`` that is always
rolled back, on a cursor of its own; a timer thread calls
``cursor.interrupt()`` when the time limit passes. Rows are read through
Arrow in batches, so a query yielding billions of rows costs only the rows
kept (DuckDB streams the result), and reading stops at the row cap or at the
byte cap on the JSON rendering, whichever comes first.

This runs in the query worker process (:mod:`collector.sql_worker`), never on
the collector's own database.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from collector.errors import CollectorError
from collector.serialize import json_value
from collector.sql_exact_numbers import exact_projection, parser_of
from collector.sql_guard import CheckedSql

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa

__all__ = [
    "SqlError",
    "SqlTimeout",
    "SqlFailed",
    "SqlResult",
    "external_access_enabled",
    "run_read_only",
]

_BATCH_ROWS = 2048
_RENDER_ROWS = 64


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
    """DuckDB could not run the query; the message is DuckDB's.

    ``fatal`` is set when DuckDB reported an internal or fatal error: it then
    invalidates the whole database instance, which must be thrown away.
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass(frozen=True)
class SqlResult:
    """What ``POST /sql`` returns."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float
    truncated_by: str | None = None  # "rows" or "bytes"

    def to_json(self) -> dict[str, Any]:
        """The response body of the REST contract."""
        return {
            "columns": self.columns,
            "types": self.types,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated,
            "truncated_by": self.truncated_by,
            "elapsed_ms": round(self.elapsed_ms, 3),
        }


def external_access_enabled(cursor: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database still lets queries reach files and the network."""
    row = cursor.execute("SELECT current_setting('enable_external_access')").fetchone()
    return bool(row and row[0])


class _PastDeadline(Exception):
    """The time limit passed while the rows were being rendered."""


class _StreamFailed(Exception):
    """DuckDB failed while streaming rows; the message is DuckDB's."""


def _batches(reader: Any) -> Iterator[pa.RecordBatch]:
    """The reader's batches; DuckDB's errors mid-stream (its interrupt at the time limit,
    running out of memory) come out of pyarrow as OSError or ArrowException, not as
    duckdb.Error, and must not end the worker."""
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (OSError, pa.ArrowException) as exc:
            raise _StreamFailed(_first_line(exc)) from None
        yield batch


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

    def check(self) -> None:
        """Raise once the time limit has passed."""
        if self.fired:
            raise _PastDeadline

    def __enter__(self) -> _Deadline:
        try:
            self._timer.start()
        except RuntimeError:
            # No address space left for the timer's thread: nothing else will fit either.
            raise SqlFailed(
                "the query worker ran out of memory before the query started; "
                "a new worker will serve the next query",
                fatal=True,
            ) from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_renderer_lock = threading.Lock()
_renderer: duckdb.DuckDBPyConnection | None = None


def _render_with_duckdb(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """DuckDB's own JSON for values Python cannot hold (year 294247, infinity dates)."""
    global _renderer
    with _renderer_lock:
        if _renderer is None:
            _renderer = duckdb.connect(":memory:", config={"enable_external_access": False})
        cursor = _renderer.cursor()
    try:
        cursor.register("rendered", pa.table({"v": column}))
        texts = cursor.execute("SELECT to_json(v)::VARCHAR FROM rendered").fetchall()
    finally:
        cursor.close()
    return [None if text is None else json_value(json.loads(text)) for (text,) in texts]


def render_column(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """One Arrow column -> JSON-safe values; never raises for any DuckDB type."""
    try:
        return [json_value(value) for value in column.to_pylist()]
    except (ValueError, OverflowError, ArithmeticError, TypeError, pa.ArrowException):
        pass
    try:
        return _render_with_duckdb(column)
    except (duckdb.Error, ValueError, pa.ArrowException):
        return [None if value is None else str(value) for value in column]


def _render(column: pa.Array | pa.ChunkedArray, wide: str | None) -> list[Any]:
    """A column as JSON-safe values; wide numbers, times and bits arrive as DuckDB's
    text of them (collector/sql_exact_numbers.py)."""
    if wide is None:
        return render_column(column)
    parse = parser_of(wide)
    return [parse(text) for text in column.to_pylist()]


def _row_bytes(row: list[Any]) -> int:
    return len(json.dumps(row, allow_nan=False, default=str, ensure_ascii=False).encode())


def _is_fatal(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.InternalException | duckdb.FatalException) or (
        "invalidated" in text
    )


def run_read_only(
    cursor: duckdb.DuckDBPyConnection,
    checked: CheckedSql,
    *,
    max_rows: int,
    timeout_s: float,
    max_bytes: int = 0,
) -> SqlResult:
    """Run ``checked`` on ``cursor``: at most ``max_rows`` rows, ``max_bytes`` bytes of
    JSON (0: no byte cap), ``timeout_s`` seconds."""
    started = time.perf_counter()
    columns: list[str] = []
    types: list[str] = []
    rows: list[list[Any]] = []
    truncated = False
    truncated_by: str | None = None
    size = 2  # the enclosing []
    byte_cap = max_bytes if max_bytes > 0 else math.inf
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    deadline = _Deadline(cursor, timeout_s)
    try:
        with deadline:
            relation = cursor.sql(checked.sql)
            if relation is None:
                raise SqlFailed("the statement returned no result")
            columns = list(relation.columns)
            types = [str(t) for t in relation.types]
            relation, wide = exact_projection(relation, types)
            reader = relation.to_arrow_reader(_BATCH_ROWS)
            try:
                for batch in _batches(reader):
                    # Rendered a slice at a time, the clock read between slices: the
                    # interrupt stops DuckDB only, and one batch of wide rows can take
                    # Python longer than the time limit and its grace together.
                    for start in range(0, batch.num_rows, _RENDER_ROWS):
                        deadline.check()
                        part = batch.slice(start, _RENDER_ROWS)
                        values = [
                            _render(column, wide.get(index))
                            for index, column in enumerate(part.columns)
                        ]
                        for index in range(part.num_rows):
                            if len(rows) == max_rows:
                                truncated, truncated_by = True, "rows"
                                break
                            row = [col[index] for col in values]
                            size += _row_bytes(row) + 1
                            if size > byte_cap:
                                truncated, truncated_by = True, "bytes"
                                break
                            rows.append(row)
                        if truncated:
                            break
                    if truncated:
                        break
            finally:
                close = getattr(reader, "close", None)
                if close is not None:
                    close()
    except _PastDeadline:
        raise SqlTimeout(timeout_s) from None
    except duckdb.InterruptException:
        if deadline.fired:
            raise SqlTimeout(timeout_s) from None
        raise SqlFailed("query interrupted") from None
    except duckdb.Error as exc:
        if deadline.fired:
            raise SqlTimeout(timeout_s) from None
        raise SqlFailed(_first_line(exc), fatal=_is_fatal(exc)) from None
    except _StreamFailed as exc:
        if deadline.fired:
            raise SqlTimeout(timeout_s) from None
        text = str(exc)
        raise SqlFailed(text, fatal="INTERNAL" in text or "invalidated" in text.lower()) from None
    finally:
        # If this fails the cursor is discarded by the caller and the transaction with it.
        with contextlib.suppress(duckdb.Error):
            cursor.execute("ROLLBACK")
    elapsed_ms = (time.perf_counter() - started) * 1000
    return SqlResult(columns, types, rows, truncated, elapsed_ms, truncated_by)
