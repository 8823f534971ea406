"""Keep deeply nested JSON away from DuckDB's recursive JSON functions in ``/sql``.

DuckDB 1.5.5 walks a JSON document one native stack frame per level of nesting in
``json_structure``, ``json_group_structure``, ``json_contains`` and ``json_tree``,
and the structure argument of ``from_json``/``json_transform`` (and their
``_strict`` forms) the same way. Deep enough, that is a SIGSEGV of the query
worker, measured here with the worker's single DuckDB thread on an 8 MB stack:

=========================================  ================  ===============
function                                    safe at (levels)   crashed at
=========================================  ================  ===============
json_structure, json_group_structure,      50,000            200,000
json_contains
json_tree                                   50,000            80,000
structure of from_json / json_transform     3,000             10,000
=========================================  ================  ===============

The document may be stored (an attribute any sender can fill) or built by the
query itself (``repeat('[', n)``, ``string_agg``), so no bound at ingest covers
the class. Instead, in the worker, each of these names is a temporary macro of
the same name (a temporary macro is found before DuckDB's own function) that
hands the document to DuckDB's function only when it holds at most
``MAX_JSON_BRACKETS`` opening brackets (``[`` and ``{``, inside strings too: a
count, not a parse, so it is linear and cannot itself recurse), and otherwise
fails the query with a message naming the limit. The nesting depth of a
document is never more than its count of opening brackets. The worker also
raises its stack limit (:func:`raise_stack_limit`) for a wider margin.

The structure argument must be a constant in DuckDB, which a macro would
hide, so :mod:`collector.sql_guard` checks it instead
(:func:`structure_refusal`). Calls qualified with a catalog or a schema other
than ``main`` (``system.main.json_structure``) would reach DuckDB's functions
past the macros: the guard refuses them (``main.json_structure`` finds the
temporary macro first).
"""

from __future__ import annotations

import resource
from typing import Any

__all__ = [
    "GUARDED_FUNCTIONS",
    "MAX_JSON_BRACKETS",
    "MAX_STRUCTURE_BRACKETS",
    "STRUCTURE_FUNCTIONS",
    "install_json_depth_guard",
    "raise_stack_limit",
    "structure_refusal",
]

MAX_JSON_BRACKETS = 20_000
MAX_STRUCTURE_BRACKETS = 1_000
WORKER_STACK_BYTES = 64 * 1024 * 1024

# Functions whose JSON arguments the macros check, by name.
GUARDED_FUNCTIONS = frozenset(
    {"json_structure", "json_group_structure", "json_contains", "json_tree"}
)
# Functions whose second argument is a structure (a type written as JSON).
STRUCTURE_FUNCTIONS = frozenset(
    {"from_json", "from_json_strict", "json_transform", "json_transform_strict"}
)


def _checked(argument: str, name: str) -> str:
    """SQL: ``argument`` itself, or an error when it holds too many opening brackets."""
    text = f"CAST({argument} AS VARCHAR)"
    opened = f"strlen({text}) - strlen(replace(replace({text}, '[', ''), '{{', ''))"
    message = (
        f"{name}() reads JSON nested at most {MAX_JSON_BRACKETS:,} levels deep; this "
        f"value has more than {MAX_JSON_BRACKETS:,} '[' and '{{' (DuckDB's {name} "
        "recurses once per level and would crash)"
    )
    quoted = message.replace("'", "''")
    return f"CASE WHEN {opened} > {MAX_JSON_BRACKETS} THEN error('{quoted}') ELSE {argument} END"


_MACROS = (
    "CREATE OR REPLACE TEMP MACRO json_structure(j) AS "
    f"system.main.json_structure({_checked('j', 'json_structure')})",
    "CREATE OR REPLACE TEMP MACRO json_group_structure(j) AS "
    f"system.main.json_group_structure({_checked('j', 'json_group_structure')})",
    "CREATE OR REPLACE TEMP MACRO json_contains(j, n) AS system.main.json_contains("
    f"{_checked('j', 'json_contains')}, {_checked('n', 'json_contains')})",
    "CREATE OR REPLACE TEMP MACRO json_tree(j) AS TABLE "
    f"(SELECT * FROM system.main.json_tree({_checked('j', 'json_tree')})), "
    f"(j, p) AS TABLE (SELECT * FROM system.main.json_tree({_checked('j', 'json_tree')}, p))",
)


def install_json_depth_guard(cursor: Any) -> None:
    """Define the checking macros on ``cursor`` (temporary objects live per connection,
    and each query runs on a cursor of its own); about 0.2 ms."""
    for statement in _MACROS:
        cursor.execute(statement)


def raise_stack_limit() -> None:
    """Let the worker's main thread, where its one DuckDB thread runs queries, grow
    its stack to 64 MB (within the hard limit): a wider margin under the bounds above."""
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    wanted = WORKER_STACK_BYTES if hard == resource.RLIM_INFINITY else min(hard, WORKER_STACK_BYTES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_STACK, (wanted, hard))


def structure_refusal(name: str, argument: Any) -> str | None:
    """Why the structure argument of ``name`` (a parsed expression of DuckDB's
    serialized tree) is refused, or None when it is a literal shallow enough."""
    literal = argument
    while isinstance(literal, dict) and literal.get("class") == "CAST":
        literal = literal.get("child")
    value = literal.get("value") if isinstance(literal, dict) else None
    text = value.get("value") if isinstance(value, dict) else None
    if (
        not isinstance(literal, dict)
        or literal.get("class") != "CONSTANT"
        or not isinstance(text, str)
    ):
        return f"{name}() takes its structure written out as a string literal here"
    if text.count("[") + text.count("{") > MAX_STRUCTURE_BRACKETS:
        return (
            f"the structure given to {name}() nests more than {MAX_STRUCTURE_BRACKETS:,} "
            "levels; DuckDB would crash building its type"
        )
    return None
