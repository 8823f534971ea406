"""Read-only SQL: decide with DuckDB's own parser whether a query may run.

The check is the first of three walls and the one that gives a clear reason:

1. this module: exactly one statement, of a read-only type (``SELECT``/``WITH``,
   ``DESCRIBE``, ``SHOW``, ``SUMMARIZE`` all parse as ``SELECT``; ``EXPLAIN``),
   with no data-modifying CTE, no file or network reader, no side-effect
   function;
2. the query runs inside ``BEGIN TRANSACTION READ ONLY`` and is rolled back
   (see :mod:`collector.query_sql`), so a write the parser check missed fails;
3. the store opens DuckDB with ``enable_external_access=false``, so no query
   reaches the file system or the network whatever function it names.

Everything here is pure apart from DuckDB's parser functions; no regular
expressions are involved (a regex cannot parse SQL).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from collector.errors import CollectorError

__all__ = ["SqlRefused", "CheckedSql", "check_read_only"]

_ALLOWED_TYPES = {"SELECT", "EXPLAIN"}
_ALLOWED_TEXT = "SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN"

# Query nodes that write: a CTE such as ``WITH x AS (DELETE ... RETURNING *)``
# parses as a SELECT statement but deletes.
_WRITING_NODES = {"INSERT_QUERY_NODE", "UPDATE_QUERY_NODE", "DELETE_QUERY_NODE"}

# Functions that read files or reach other databases or the network. With
# external access disabled DuckDB refuses them anyway; naming them here gives
# the clearer reason and holds even on a database opened without that setting.
_FILE_FUNCTIONS = {
    "glob",
    "sniff_csv",
    "parquet_metadata",
    "parquet_schema",
    "parquet_file_metadata",
    "parquet_kv_metadata",
    "parquet_bloom_probe",
    "iceberg_metadata",
    "iceberg_snapshots",
    "http_get",
    "http_post",
}
_FILE_PREFIXES = ("read_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_")
_FILE_SUFFIXES = ("_scan", "_attach")

# Functions with effects beyond reading, or that run SQL text the check cannot see.
_EFFECT_FUNCTIONS = {
    "checkpoint",
    "force_checkpoint",
    "duckdb_secrets",
    "which_secret",
    "enable_logging",
    "disable_logging",
    "truncate_duckdb_logs",
    "enable_profiling",
    "disable_profiling",
    "install_extension",
    "load_extension",
}

_INDIRECT_FUNCTIONS = {"query", "query_table"}


class SqlRefused(CollectorError, ValueError):
    """The SQL is not one read-only statement; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CheckedSql:
    """A statement that passed the check, ready to run on a read-only cursor."""

    sql: str
    statement_type: str  # "SELECT" or "EXPLAIN"


def check_read_only(sql: str) -> CheckedSql:
    """Return the single read-only statement in ``sql`` or raise :class:`SqlRefused`."""
    if not sql or not sql.strip():
        raise SqlRefused("empty query")
    statement = _single_statement(sql)
    kind = _type_name(statement)
    if kind not in _ALLOWED_TYPES:
        raise SqlRefused(f"{kind} statements are not allowed; only {_ALLOWED_TEXT} can run here")
    if statement.named_parameters:
        raise SqlRefused("parameters ($1, ?, $name) are not supported here; write the values")
    if kind == "EXPLAIN":
        _check_explained(statement.query)
    else:
        _check_select_tree(statement.query)
    return CheckedSql(sql=statement.query, statement_type=kind)


def _single_statement(sql: str) -> Any:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlRefused(f"could not parse the query: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise SqlRefused(f"exactly one statement is allowed, got {len(statements)}")
    return statements[0]


def _type_name(statement: Any) -> str:
    try:
        kind = statement.type
    except ValueError:  # a statement type this Python binding has no name for
        return "UNRECOGNISED"
    return str(kind).rsplit(".", 1)[-1].upper()


def _check_explained(text: str) -> None:
    """Check the statement inside EXPLAIN: EXPLAIN ANALYZE runs it."""
    inner = _after_explain(text)
    if not inner.strip():
        raise SqlRefused("EXPLAIN needs a statement to explain")
    try:
        statements = duckdb.extract_statements(inner)
    except duckdb.Error:
        raise SqlRefused("could not check the statement inside EXPLAIN") from None
    if len(statements) != 1 or _type_name(statements[0]) != "SELECT":
        kinds = ", ".join(_type_name(s) for s in statements) or "nothing"
        raise SqlRefused(f"EXPLAIN is allowed only for SELECT queries, not {kinds}")
    _check_select_tree(statements[0].query)


def _after_explain(text: str) -> str:
    """The text after ``EXPLAIN [ANALYZE] [(options)]``, found with DuckDB's tokenizer."""
    starts = [start for start, _ in duckdb.tokenize(text)]
    words = [
        text[start : starts[i + 1] if i + 1 < len(starts) else len(text)].strip()
        for i, start in enumerate(starts)
    ]
    index = 0
    while index < len(words) and words[index].upper() in {"EXPLAIN", "ANALYZE", "ANALYSE"}:
        index += 1
    # "EXPLAIN (FORMAT json) SELECT ..." has options in parentheses;
    # "EXPLAIN (SELECT 1)" has the query itself in them.
    query_openers = {"SELECT", "WITH", "FROM", "VALUES", "(", "TABLE", "SHOW", "DESCRIBE"}
    if (
        index + 1 < len(words)
        and words[index] == "("
        and words[index + 1].upper() not in query_openers
    ):
        depth = 0
        while index < len(words):
            depth += {"(": 1, ")": -1}.get(words[index], 0)
            index += 1
            if depth == 0:
                break
    return text[starts[index] :] if index < len(starts) else ""


def _check_select_tree(text: str) -> None:
    tree = _serialize(text)
    for node in _walk(tree):
        node_type = node.get("type")
        if not isinstance(node_type, str):  # duckdb 1.5 also has nested "type" objects
            node_type = None
        if node_type in _WRITING_NODES:
            verb = str(node_type).split("_", 1)[0]
            raise SqlRefused(f"{verb} inside a query is not allowed: queries here are read-only")
        if node.get("class") == "FUNCTION" or node_type == "TABLE_FUNCTION":
            _check_function(node)
        if node_type == "BASE_TABLE":
            _check_table_name(node)


_parser_lock = threading.Lock()
_parser_db: duckdb.DuckDBPyConnection | None = None


def _parser_cursor() -> duckdb.DuckDBPyConnection:
    # One private in-memory database for parsing (opening one costs tens of ms);
    # each call gets its own cursor, as DuckDB wants one per thread.
    global _parser_db
    with _parser_lock:
        if _parser_db is None:
            _parser_db = duckdb.connect(":memory:", config={"enable_external_access": False})
        return _parser_db.cursor()


def _serialize(text: str) -> dict[str, Any]:
    # json_serialize_sql parses only; it runs nothing.
    with _parser_cursor() as cursor:
        row = cursor.execute("SELECT json_serialize_sql(?)", [text]).fetchone()
    tree = json.loads(row[0]) if row and row[0] else {}
    if not isinstance(tree, dict) or tree.get("error"):
        message = tree.get("error_message") if isinstance(tree, dict) else None
        raise SqlRefused(f"could not check the query: {message or 'unknown parser error'}")
    return tree


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _check_function(node: dict[str, Any]) -> None:
    function = node.get("function") if node.get("type") == "TABLE_FUNCTION" else node
    if not isinstance(function, dict):
        return
    name = str(function.get("function_name") or "").lower()
    if not name:
        return
    if name in _FILE_FUNCTIONS or name.startswith(_FILE_PREFIXES) or name.endswith(_FILE_SUFFIXES):
        raise SqlRefused(f"{name}() reads files or other databases; queries here cannot")
    if name in _INDIRECT_FUNCTIONS:
        raise SqlRefused(f"{name}() runs SQL text that cannot be checked; write the query itself")
    if name in _EFFECT_FUNCTIONS:
        raise SqlRefused(f"{name}() is not allowed here: it does more than read")


def _check_table_name(node: dict[str, Any]) -> None:
    # FROM 'data.csv' is a replacement scan of a file, not a table.
    name = str(node.get("table_name") or "")
    if any(ch in name for ch in "/\\:.") or name.startswith("~"):
        raise SqlRefused(f"{name!r} looks like a file or URL; queries here read only tables")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
