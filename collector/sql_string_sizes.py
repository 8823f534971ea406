"""Bound the size of one string, list or blob built by one ``/sql`` function call.

DuckDB checks for an interrupt between chunks of rows, not inside a function call: one
``repeat('x', 2000000000)`` or ``lpad('x', 2000000000, 'y')`` built its value for
14–53 s on this machine, past the time limit, ``list_resize([1], 999999999)``
(``array_resize`` the same) ran past 20 s, and ``replace`` multiplies a text's size by
that of its replacement over that of what it replaces. In the query worker these functions are
temporary macros of the same names (found before DuckDB's own functions, like those of
:mod:`collector.sql_deep_json`) that fail the call at once when the value would exceed
``MAX_BUILT_CHARS`` characters (elements for a list; the size of ``repeat``'s argument
is that of its text, which is never smaller). The table function ``repeat(value, n)``
is another namespace and unaffected: its rows are streamed and interruptible.

``printf`` and ``format`` take any number of arguments, which a macro cannot: the
query check reads their format strings instead (:mod:`collector.sql_format_widths`).
A macro takes no DISTINCT, FILTER, ORDER BY or OVER; the query check refuses those on
these names with a message saying so (collector/sql_guard.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_BUILT_CHARS", "SIZED_FUNCTIONS", "install_size_bounds"]

MAX_BUILT_CHARS = 64 * 1024 * 1024
SIZED_FUNCTIONS = frozenset({"repeat", "lpad", "rpad", "list_resize", "array_resize", "replace"})


def _refusal(name: str) -> str:
    message = (
        f"{name}() builds at most {MAX_BUILT_CHARS:,} characters (or list elements) in one "
        "call here: DuckDB cannot interrupt one call at the time limit"
    )
    return "error('" + message.replace("'", "''") + "')"


def _bounded(name: str) -> str:
    return f"CASE WHEN n > {MAX_BUILT_CHARS} THEN {_refusal(name)} ELSE n END"


_REPEATED = "CAST(strlen(CAST(s AS VARCHAR)) AS DOUBLE) * n"
_REPLACED = (
    "strlen(CAST(s AS VARCHAR)) + CAST(strlen(CAST(s AS VARCHAR)) AS DOUBLE) "
    "/ greatest(strlen(CAST(f AS VARCHAR)), 1) "
    "* greatest(strlen(CAST(r AS VARCHAR)) - strlen(CAST(f AS VARCHAR)), 0)"
)
_MACROS = (
    "CREATE OR REPLACE TEMP MACRO repeat(s, n) AS system.main.repeat(s, "
    f"CASE WHEN {_REPEATED} > {MAX_BUILT_CHARS} THEN {_refusal('repeat')} ELSE n END)",
    *(
        f"CREATE OR REPLACE TEMP MACRO {name}(s, n, f) AS system.main.{name}(s, "
        f"CASE WHEN n > {MAX_BUILT_CHARS} THEN {_refusal(name)} ELSE n END, f)"
        for name in ("lpad", "rpad")
    ),
    # At most strlen(s) / strlen(f) matches, each growing the text by
    # strlen(r) - strlen(f): replace(repeat('a', 1000), 'a', repeat('b', 1000000)) built
    # a gigabyte in 16 s. The bound counts every possible match, so it may refuse a
    # text that has fewer.
    "CREATE OR REPLACE TEMP MACRO replace(s, f, r) AS system.main.replace(s, f, "
    f"CASE WHEN {_REPLACED} > {MAX_BUILT_CHARS} THEN {_refusal('replace')} ELSE r END)",
    *(
        f"CREATE OR REPLACE TEMP MACRO {name}(l, n) AS system.main.{name}(l, {_bounded(name)}), "
        f"(l, n, v) AS system.main.{name}(l, {_bounded(name)}, v)"
        for name in ("list_resize", "array_resize")
    ),
)


def install_size_bounds(cursor: Any) -> None:
    """Define the bounding macros on ``cursor`` (temporary: per connection)."""
    for statement in _MACROS:
        cursor.execute(statement)
