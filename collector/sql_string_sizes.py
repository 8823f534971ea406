"""Bound the size of one string, list or blob built by one ``/sql`` function call.

DuckDB checks for an interrupt between chunks of rows, not inside a function call: one
``repeat('x', 2000000000)`` or ``lpad('x', 2000000000, 'y')`` built its value for
14–53 s on this machine, past the time limit. In the query worker ``repeat``, ``lpad`` and
``rpad`` are temporary macros of the same names (found before DuckDB's own functions,
like those of :mod:`collector.sql_deep_json`) that fail the call at once when the value
would exceed ``MAX_BUILT_CHARS`` characters (elements for a list; the size of
``repeat``'s argument is that of its text, which is never smaller). The table function
``repeat(value, n)`` is another namespace and unaffected: its rows are streamed and
interruptible.

Left out: ``printf`` and ``format`` take any number of arguments, which a macro
cannot, so a huge width in their format string (``printf('%2000000000d', 1)``) still
runs until the worker's grace period ends it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_BUILT_CHARS", "SIZED_FUNCTIONS", "install_size_bounds"]

MAX_BUILT_CHARS = 64 * 1024 * 1024
SIZED_FUNCTIONS = frozenset({"repeat", "lpad", "rpad"})


def _refusal(name: str) -> str:
    message = (
        f"{name}() builds at most {MAX_BUILT_CHARS:,} characters (or list elements) in one "
        "call here: DuckDB cannot interrupt one call at the time limit"
    )
    return "error('" + message.replace("'", "''") + "')"


_REPEATED = "CAST(strlen(CAST(s AS VARCHAR)) AS DOUBLE) * n"
_MACROS = (
    "CREATE OR REPLACE TEMP MACRO repeat(s, n) AS system.main.repeat(s, "
    f"CASE WHEN {_REPEATED} > {MAX_BUILT_CHARS} THEN {_refusal('repeat')} ELSE n END)",
    *(
        f"CREATE OR REPLACE TEMP MACRO {name}(s, n, f) AS system.main.{name}(s, "
        f"CASE WHEN n > {MAX_BUILT_CHARS} THEN {_refusal(name)} ELSE n END, f)"
        for name in ("lpad", "rpad")
    ),
)


def install_size_bounds(cursor: Any) -> None:
    """Define the bounding macros on ``cursor`` (temporary: per connection)."""
    for statement in _MACROS:
        cursor.execute(statement)
