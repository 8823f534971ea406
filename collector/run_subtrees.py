"""The stored spans a derivation of some runs' fields reads: their subtrees, not the trace.

collector/foreign_runs.py derives a run's fields from the spans below it. Reading
and decoding every stored span of the trace for that made each request of a
long-lived trace cost more than the one before (a trace of 10^4 runs, sent 1,000
at a time: 2 s for the first request, 9 s for the ninth).

What the derivation reads of a trace, rule by rule (collector/frameworks.py):

- a run's fields: the run span, its own spans and the model calls below it, all in
  its subtree (the spans below it, through the runs nested in it);
- a step's fields: spans anywhere in the trace, but only for a GenAI tool span that
  names its call id without its arguments or result (the model calls next to it
  in time), a tool span under a failed MCP server call, and the spans of the
  frameworks whose rule module reads across the trace (``derive_step_fields``,
  ``derive_run_fields_in_trace``: a parent, a sibling, an ancestor team) or whose
  branches are put back in place (ADK's ParallelAgent), or whose runs a rule places below
  another span (collector/rule_parents.py). A run of a module that reads across the
  trace for its own fields is derived again when a span of its trace arrives that it may
  read (collector/across_runs.py: any span, or for a module
  saying how far above a run it reads, a span below the run or that close above it):
  what it reads may come after it.

A trace holding none of those reads only the affected runs' subtrees, found from
the trace's (span id, parent) links, which are cheap to read: its step fields are
then empty whatever is read, and its runs' fields depend on their subtrees alone,
so the result is the one a read of the whole trace gives. Any other trace is read
whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from collector import rule_parents, rules
from collector.rules import google_adk, mcp
from instrumentation import attributes as A

__all__ = ["SPAN_COLUMNS", "spans_of_runs", "TRACE_WIDE_SCOPES"]

SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, "
    "status_message, scope_name, scope_version, resource, attributes, events"
)

# Scopes whose spans the derivation may read from anywhere in their trace.
TRACE_WIDE_SCOPES = frozenset(
    {
        scope
        for module in rules.MODULES
        if hasattr(module, "derive_step_fields") or hasattr(module, "derive_run_fields_in_trace")
        for scope in module.SCOPES
    }
    | google_adk.SCOPES
    | mcp.SCOPES
    | rule_parents.SCOPES  # a run placed below another span than its parent
)


def _key(name: str) -> str:
    return f"'$.\"{name}\"'"


def _present(name: str) -> str:
    """SQL: the attribute is there and not null (``attrs.get(name) is not None``)."""
    return f"coalesce(json_type(attributes, {_key(name)}), 'NULL') <> 'NULL'"


# A GenAI tool span naming its call id without its arguments or its result: its step
# fields come from the trace's model calls around it in time (frameworks._call_id_fields).
_CALL_ID_ONLY = (
    f"CASE WHEN attributes NOT LIKE '%{A.GEN_AI_TOOL_CALL_ID}%' THEN false "
    "WHEN NOT json_valid(attributes) THEN true "  # unreadable here: read the trace whole
    f"ELSE json_type(attributes, {_key(A.GEN_AI_TOOL_CALL_ID)}) IS NOT NULL "
    f"AND NOT ({_present(A.GEN_AI_TOOL_CALL_ARGUMENTS)} "
    f"AND {_present(A.GEN_AI_TOOL_CALL_RESULT)}) END"
)
_SCOPES_LISTED = ", ".join("?" for _ in TRACE_WIDE_SCOPES)
_LINKS = (
    "SELECT trace_id, span_id, parent_span_id, "
    f"scope_name IN ({_SCOPES_LISTED}) OR ({_CALL_ID_ONLY}) AS trace_wide "
    "FROM spans WHERE trace_id IN (SELECT unnest(?)) AND received_at >= ?"
)
_ROWS = (
    f"SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id IN (SELECT unnest(?)) AND received_at >= ?"
)


def _below(run_span_ids: set[str], links: list[tuple[str, str | None]]) -> set[str]:
    """The run spans and every span below them (a parent cycle is walked once)."""
    children: dict[str, list[str]] = {}
    for span_id, parent in links:
        if parent is not None:
            children.setdefault(parent, []).append(span_id)
    found = set(run_span_ids)
    stack = list(run_span_ids)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def spans_of_runs(
    con: duckdb.DuckDBPyConnection, since: datetime, run_spans: dict[str, set[str]]
) -> list[tuple[Any, ...]]:
    """``spans`` rows (:data:`SPAN_COLUMNS`) received at or after ``since`` that deriving
    the fields of the runs ``run_spans`` (trace id -> run span ids) reads: each trace's
    rows in stored order, the runs' subtrees or the whole trace when a rule may read
    beyond them."""
    traces = sorted(run_spans)
    links: dict[str, list[tuple[str, str | None]]] = {t: [] for t in traces}
    whole: set[str] = set()
    for trace_id, span_id, parent, trace_wide in con.execute(
        _LINKS, [*sorted(TRACE_WIDE_SCOPES), traces, since]
    ).fetchall():
        links[trace_id].append((span_id, parent))
        if trace_wide:
            whole.add(trace_id)
    needed: dict[str, set[str]] = {}
    for trace_id in traces:
        if trace_id in whole:
            continue
        below = _below(run_spans[trace_id], links[trace_id])
        if len(below) < len(links[trace_id]):
            needed[trace_id] = below
        else:
            whole.add(trace_id)
    rows: list[tuple[Any, ...]] = []
    if whole:
        rows += con.execute(_ROWS, [sorted(whole), since]).fetchall()
    if needed:
        # A span id may repeat across traces: rows of another trace's subtree are dropped.
        span_ids = sorted(set().union(*needed.values()))
        rows += [
            row
            for row in con.execute(
                f"{_ROWS} AND span_id IN (SELECT unnest(?))", [sorted(needed), since, span_ids]
            ).fetchall()
            if row[1] in needed[row[0]]
        ]
    return rows
