"""Read-only SQL: an allowlist over DuckDB's own parse tree.

A query is accepted only when everything in it is on a list
(:mod:`collector.sql_allowlist`): one statement whose leading keyword and
parsed type are ``SELECT``/``WITH``/``FROM``/``VALUES``/``TABLE``,
``DESCRIBE``, ``SHOW``, ``SUMMARIZE`` or ``EXPLAIN``; query nodes, row
sources and expression kinds DuckDB produces for plain reads; functions and
table functions named on the list; tables among the documented ones (or a
CTE of the query). Anything else is refused with the name of what was
refused. A deny-list would let through whatever DuckDB adds next; this cannot.

This is the first wall. The query then runs in a separate worker process
(:mod:`collector.sql_sandbox`) on a copy that holds only the documented
tables, with external access off, configuration locked, and memory, spill,
time and result-size limits: a query this check wrongly accepted can still
neither write, read a file, nor take ingest down.

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
from collector.sql_allowlist import FUNCTIONS, QUERYABLE, REFUSED, TABLE_FUNCTIONS, refusal_class
from collector.sql_deep_json import GUARDED_FUNCTIONS, STRUCTURE_FUNCTIONS, structure_refusal
from collector.sql_format_widths import FORMAT_FUNCTIONS, format_refusal
from collector.sql_string_sizes import SIZED_FUNCTIONS

__all__ = ["SqlRefused", "CheckedSql", "check_read_only"]

_ALLOWED_TYPES = {"SELECT", "EXPLAIN"}
_ALLOWED_TEXT = "SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN"
# The first keyword of the text: DuckDB rewrites some statements (PRAGMA x,
# PIVOT) into SELECTs, so the parsed type alone does not say what was written.
_ALLOWED_OPENERS = {
    "SELECT",
    "WITH",
    "FROM",
    "VALUES",
    "TABLE",
    "DESCRIBE",
    "SHOW",
    "SUMMARIZE",
    "EXPLAIN",
    "(",
}
_WRITE_KEYWORDS = ("DELETE", "INSERT", "UPDATE", "MERGE", "COPY", "CREATE", "DROP", "ALTER")
# Keywords that open one of DuckDB's other statements: a text opening with one is
# refused as that statement even when DuckDB cannot parse or bind it (PRAGMA x with
# the wrong arguments fails in the parser with a binder error that names no PRAGMA).
_STATEMENT_KEYWORDS_TEXT = """
    ABORT ALTER ANALYSE ANALYZE ATTACH BEGIN CALL CHECKPOINT COMMENT COMMIT COPY CREATE
    DEALLOCATE DELETE DETACH DROP END EXECUTE EXPORT FORCE IMPORT INSERT INSTALL LOAD
    MERGE PIVOT PRAGMA PREPARE RESET ROLLBACK SET START TRUNCATE UNPIVOT UPDATE USE VACUUM
"""
_STATEMENT_KEYWORDS = frozenset(_STATEMENT_KEYWORDS_TEXT.split())

_QUERY_NODES = {"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"}
_WRITING_NODES = {"INSERT_QUERY_NODE", "UPDATE_QUERY_NODE", "DELETE_QUERY_NODE"}
_TABLE_REFS = {
    "BASE_TABLE",
    "TABLE_FUNCTION",
    "SUBQUERY",
    "JOIN",
    "EXPRESSION_LIST",
    "PIVOT",
    "EMPTY",
    "SHOW_REF",
}
_REFUSED_REFS = {"COLUMN_DATA", "DELIM_GET", "BOUND_TABLE_REF", "CTE", "INVALID"}
_EXPRESSION_CLASSES = {
    "CONSTANT",
    "COLUMN_REF",
    "FUNCTION",
    "WINDOW",
    "AGGREGATE",
    "CAST",
    "COMPARISON",
    "CONJUNCTION",
    "OPERATOR",
    "CASE",
    "BETWEEN",
    "SUBQUERY",
    "STAR",
    "LAMBDA",
    "LAMBDA_REF",
    "COLLATE",
    "POSITIONAL_REFERENCE",
}
_SHOWABLE = {'"tables"', "tables"}
# DuckDB 1.5.5's tokenizer and parser take time quadratic in a run of block comments
# (3,000 in a row: about 2 s a pass, 25,000: minutes), and the check parses a query
# several times in the collector's own process. No query needs this many.
MAX_BLOCK_COMMENTS = 256


class SqlRefused(CollectorError, ValueError):
    """The SQL is not one allowed read-only statement; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CheckedSql:
    """A statement that passed the check, ready to run on a read-only cursor."""

    sql: str
    statement_type: str  # "SELECT" or "EXPLAIN"


def check_read_only(sql: str) -> CheckedSql:
    """Return the single allowed statement in ``sql`` or raise :class:`SqlRefused`."""
    if not sql or not sql.strip():
        raise SqlRefused("empty query")
    if sql.count("/*") > MAX_BLOCK_COMMENTS:
        raise SqlRefused(f"at most {MAX_BLOCK_COMMENTS} block comments (/* */) are allowed")
    words = _keywords(sql)
    statement = _single_statement(sql, words)
    kind = _type_name(statement)
    # Named by the keyword sent, not DuckDB's statement type: ANALYZE parses as a
    # VACUUM, INSTALL as a LOAD, CHECKPOINT as a CALL, USE as a SET.
    opener = words[0][:40] if words else ""
    if kind not in _ALLOWED_TYPES or opener not in _ALLOWED_OPENERS:
        if opener and not opener.isalpha() and opener not in _ALLOWED_OPENERS:
            # "; SELECT 1" parses as a SELECT: naming that would contradict the list.
            raise SqlRefused(f"a query cannot start with {opener!r}; start it with {_ALLOWED_TEXT}")
        named = opener if opener.isalpha() and opener not in _ALLOWED_OPENERS else kind
        raise SqlRefused(f"{named} statements are not allowed; only {_ALLOWED_TEXT} can run here")
    if statement.named_parameters:
        raise SqlRefused("parameters ($1, ?, $name) are not supported here; write the values")
    if kind == "EXPLAIN":
        _check_explained(statement.query)
    else:
        _check_tree(statement.query)
    return CheckedSql(sql=statement.query, statement_type=kind)


def _keywords(sql: str) -> list[str]:
    """The text's tokens, upper-cased, found with DuckDB's tokenizer (comments skipped)."""
    try:
        tokens = duckdb.tokenize(sql)
    except duckdb.Error:
        return []
    starts = [start for start, _ in tokens]
    if not starts:
        return []
    ends = [*starts[1:], len(sql)]
    return [sql[start:end].strip().upper() for start, end in zip(starts, ends, strict=True)]


def _statement_count(words: list[str]) -> int:
    """Statements as written: runs of tokens between top-level semicolons."""
    count, pending = 0, False
    for word in words:
        if word == ";":
            count += pending
            pending = False
        else:
            pending = True
    return count + pending


def _extract(sql: str) -> list[Any]:
    """DuckDB's statements of ``sql``, split and parsed on the private parser database.

    Parsing is not inert on a default connection: DuckDB expands ``IMPORT DATABASE``
    (``PRAGMA import_database``) while parsing, reading ``schema.sql`` and ``load.sql``
    from the directory named (or installing httpfs to fetch them from a URL), in the
    collector's own process. Without file system access that expansion fails unread.
    """
    with _parser_cursor() as cursor:
        return list(cursor.extract_statements(sql))


def _single_statement(sql: str, words: list[str]) -> Any:
    try:
        statements = _extract(sql)
    except duckdb.Error as exc:
        raise _parse_refusal(words, exc) from None
    if len(statements) != 1:
        written = _statement_count(words)
        if written == 1 and len(statements) > 1:
            # PIVOT and friends expand into several statements (DuckDB's MULTI).
            opener = words[0] if words and words[0] in _STATEMENT_KEYWORDS else "MULTI"
            raise SqlRefused(
                f"{opener} statements are not allowed (DuckDB runs this one as "
                f"{len(statements)} statements, a MULTI); only {_ALLOWED_TEXT} can run here"
            )
        raise SqlRefused(f"exactly one statement is allowed, got {len(statements)}")
    return statements[0]


def _parse_refusal(words: list[str], exc: duckdb.Error) -> SqlRefused:
    """A parse error, named by the statement or the write it contains when there is one."""
    opener = words[0] if words else ""
    if opener in _STATEMENT_KEYWORDS or (
        isinstance(exc, duckdb.PermissionException) and opener.isalpha()
    ):
        # IMPORT DATABASE is expanded while parsing and meets the closed file system:
        # it is refused for what it is (the path named says nothing).
        return SqlRefused(
            f"{opener[:40]} statements are not allowed; only {_ALLOWED_TEXT} can run here"
        )
    verb = next((w for w in words if w in _WRITE_KEYWORDS), None)
    if verb and words and words[0] == "EXPLAIN":
        return SqlRefused(f"EXPLAIN is allowed only for SELECT queries, not {verb}")
    if verb and words and words[0] == "WITH":
        return SqlRefused(f"{verb} inside a query is not allowed: queries here are read-only")
    return SqlRefused(f"could not parse the query: {_first_line(exc)}")


def _type_name(statement: Any) -> str:
    try:
        kind = statement.type
    except ValueError:  # a statement type this Python binding has no name for
        return "UNRECOGNISED"
    name = str(kind).rsplit(".", 1)[-1].upper()
    return name if name.isidentifier() else "UNRECOGNISED"


def _check_explained(text: str) -> None:
    """Check the statement inside EXPLAIN: EXPLAIN ANALYZE runs it."""
    inner = _after_explain(text)
    if not inner.strip():
        raise SqlRefused("EXPLAIN needs a statement to explain")
    try:
        statements = _extract(inner)
    except duckdb.Error as exc:
        raise _parse_refusal(["EXPLAIN", *_keywords(inner)], exc) from None
    if len(statements) != 1 or _type_name(statements[0]) != "SELECT":
        kinds = ", ".join(_type_name(s) for s in statements) or "nothing"
        raise SqlRefused(f"EXPLAIN is allowed only for SELECT queries, not {kinds}")
    inner_words = _keywords(inner)
    if not inner_words or inner_words[0] not in _ALLOWED_OPENERS - {"EXPLAIN"}:
        opener = inner_words[0] if inner_words else "nothing"
        raise SqlRefused(f"EXPLAIN is allowed only for SELECT queries, not {opener}")
    _check_tree(statements[0].query)


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


def _check_tree(text: str) -> None:
    tree = _serialize(text)
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise SqlRefused("could not check the query: expected one statement")
    nodes = list(_walk(statements[0].get("node")))
    cte_names = {
        str(entry.get("key") or "").lower()
        for node in nodes
        if isinstance(node.get("cte_map"), dict)
        for entry in node["cte_map"].get("map") or []
        if isinstance(entry, dict)
    }
    table_function_calls: set[int] = set()
    for node in nodes:
        node_class = node.get("class")
        node_type = node.get("type") if isinstance(node.get("type"), str) else None
        if isinstance(node_class, str):
            _check_expression(node, node_class, table_function_calls)
            continue
        if node_type is None:
            continue
        if node_type in _WRITING_NODES:
            verb = node_type.split("_", 1)[0]
            raise SqlRefused(f"{verb} inside a query is not allowed: queries here are read-only")
        if node_type.endswith("_NODE") and node_type not in _QUERY_NODES:
            raise SqlRefused(f"{node_type} is not allowed in a read-only query")
        if node_type in _REFUSED_REFS:
            raise SqlRefused(f"{node_type} table references are not allowed here")
        if node_type == "TABLE_FUNCTION":
            table_function_calls.add(id(node.get("function")))
            _check_table_function(node)
        elif node_type == "BASE_TABLE":
            _check_table(node, cte_names)
        elif node_type == "SHOW_REF":
            _check_show(node)


def _check_expression(node: dict[str, Any], node_class: str, table_calls: set[int]) -> None:
    if node_class not in _EXPRESSION_CLASSES:
        raise SqlRefused(f"{node_class.lower()} expressions are not allowed here")
    if node_class in {"FUNCTION", "WINDOW", "AGGREGATE"} and id(node) not in table_calls:
        name = str(node.get("function_name") or "").lower()
        if name and name not in FUNCTIONS:
            raise SqlRefused(_function_refusal(name))
        _check_unqualified(node, name)
        children = node.get("children")
        if name in STRUCTURE_FUNCTIONS and isinstance(children, list) and len(children) > 1:
            refusal = structure_refusal(name, children[1])
            if refusal is not None:
                raise SqlRefused(refusal)
        if name in FORMAT_FUNCTIONS:
            refusal = format_refusal(name, children)
            if refusal is not None:
                raise SqlRefused(refusal)
        if name in _MACRO_FUNCTIONS:
            _check_macro_call(node, node_class, name)


# Names the worker defines as checking macros (collector/sql_deep_json.py,
# collector/sql_string_sizes.py). A macro takes no DISTINCT, FILTER, ORDER BY or
# OVER, and DuckDB's own message for it ("is a Macro Function") names nothing the
# user wrote.
_MACRO_FUNCTIONS = GUARDED_FUNCTIONS | SIZED_FUNCTIONS
_AGGREGATE_MACROS = {
    "json_group_structure": (
        "write json_group_structure(CASE WHEN <condition> THEN <value> END) for a FILTER, "
        "drop DISTINCT and ORDER BY (they change no structure), and aggregate in a "
        "subquery for OVER"
    )
}


def _check_macro_call(node: dict[str, Any], node_class: str, name: str) -> None:
    order = node.get("order_bys")
    modifiers = [
        word
        for word, present in (
            ("DISTINCT", node.get("distinct")),
            ("FILTER", node.get("filter")),
            ("ORDER BY", isinstance(order, dict) and order.get("orders")),
            ("OVER", node_class == "WINDOW"),
        )
        if present
    ]
    if not modifiers:
        return
    written = ", ".join(modifiers)
    hint = _AGGREGATE_MACROS.get(name)
    if hint is None:
        raise SqlRefused(f"{name}() is not an aggregate function: {written} does not apply to it")
    raise SqlRefused(
        f"{name}() runs here as a macro that checks its argument's nesting, which "
        f"takes no {written}: {hint}"
    )


def _check_unqualified(function: dict[str, Any], name: str) -> None:
    # The worker checks some functions' arguments in temporary macros of the same names
    # (collector/sql_deep_json.py): a catalog or a schema other than main (system.x,
    # system.main.x) would reach DuckDB's own past them. DuckDB's parser writes main.x
    # itself for syntax ([1, 2] is main.list_value), and main.x finds the macro first.
    schema = str(function.get("schema") or "").lower()
    if function.get("catalog") or schema not in {"", "main"}:
        qualified = ".".join(
            str(part) for part in (function.get("catalog"), function.get("schema"), name) if part
        )
        raise SqlRefused(f"call functions by their name alone: {name}(), not {qualified}()")


def _check_table_function(node: dict[str, Any]) -> None:
    function = node.get("function")
    name = str(function.get("function_name") or "").lower() if isinstance(function, dict) else ""
    if name not in TABLE_FUNCTIONS:
        raise SqlRefused(_function_refusal(name or "this table function"))
    if isinstance(function, dict):
        _check_unqualified(function, name)


def _function_refusal(name: str) -> str:
    kind = refusal_class(name)
    if kind is not None:
        return f"{name}() {REFUSED[kind][0]}"
    if name.startswith(("read_", "parquet_", "sqlite_", "postgres_")) or name.endswith(
        ("_scan", "_attach")
    ):
        # An extension's readers, should one be loaded: named like the built-in ones.
        return f"{name}() {REFUSED['files'][0]}"
    return f"{name}() is not allowed here: only side-effect-free functions on the list can run"


def _check_table(node: dict[str, Any], cte_names: set[str]) -> None:
    name = str(node.get("table_name") or "")
    if any(ch in name for ch in "/\\:.") or name.startswith("~"):
        # FROM 'data.csv' is a replacement scan of a file, not a table.
        raise SqlRefused(f"{name!r} looks like a file or URL; queries here read only tables")
    schema = str(node.get("schema_name") or "").lower()
    catalog = str(node.get("catalog_name") or "").lower()
    lowered = name.lower()
    if not schema and not catalog and lowered in cte_names:
        return
    if lowered not in QUERYABLE or schema not in {"", "main"} or catalog:
        tables = ", ".join(sorted(QUERYABLE))
        raise SqlRefused(f"table {name!r} is not available here; queries can read {tables}")


def _check_show(node: dict[str, Any]) -> None:
    if isinstance(node.get("query"), dict):
        return  # DESCRIBE / SUMMARIZE of a query: the query itself is checked
    name = str(node.get("table_name") or "").lower()
    if name in _SHOWABLE or name.strip('"') in QUERYABLE:
        return
    raise SqlRefused(f"SHOW {name.strip(chr(34))} is not allowed here; SHOW TABLES is")


_parser_lock = threading.Lock()
_parser_db: duckdb.DuckDBPyConnection | None = None


def _parser_cursor() -> duckdb.DuckDBPyConnection:
    # One private in-memory database for parsing (opening one costs tens of ms);
    # each call gets its own cursor, as DuckDB wants one per thread.
    global _parser_db
    with _parser_lock:
        if _parser_db is None:
            _parser_db = duckdb.connect(
                ":memory:",
                config={
                    "enable_external_access": False,
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                },
            )
        return _parser_db.cursor()


def _serialize(text: str) -> dict[str, Any]:
    # json_serialize_sql parses only; it runs nothing.
    with _parser_cursor() as cursor:
        row = cursor.execute("SELECT json_serialize_sql(?)", [text]).fetchone()
    try:
        tree = json.loads(row[0]) if row and row[0] else {}
    except RecursionError:
        # DuckDB's own limit is 1,000 levels of expressions; its tree is deeper than
        # Python's parser goes (about 400 nested calls, NOTs or lists).
        raise SqlRefused("the query nests too deeply to be checked; flatten it") from None
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
