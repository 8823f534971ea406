"""The stored runs a batch's spans may change the derived fields of, beyond their subtrees.

A rule module reading beyond a run's subtree for its fields (``derive_run_fields_in_trace``:
a workflow agent's sub-agents, the ``AgentTool`` call that asked an agent) may find what it
reads in a span arriving after the run; collector/foreign_runs.py then derives the run
again. Which runs: every run of the module's scopes in the span's trace, or, when the module
says how far above a run it reads (``READS_ABOVE_RUN``, in parent links; below the run it
reads anything), the runs above the span and those at most that far below it. On a trace
of thousands of runs, a request then derives its own runs again, not the trace's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import duckdb

from collector import rules
from collector.decode import SpanRecord
from collector.nearest_runs import SpanKey

if TYPE_CHECKING:
    from collector.run_links import StoredParents

__all__ = ["ACROSS_TRACE_SCOPES", "runs_reading_across"]

# Scopes whose rule module derives a run's fields from spans outside the run's subtree
# (``derive_run_fields_in_trace``: a sibling the conversation was handed to, the
# sub-agents of a workflow agent). Such a run is derived again when a span of its trace
# arrives that it may read: what it reads may come after the run and its own spans.
ACROSS_TRACE_SCOPES = frozenset(
    scope
    for module in rules.MODULES
    if hasattr(module, "derive_run_fields_in_trace")
    for scope in module.SCOPES
)
# How far above its run span a module's ``derive_run_fields_in_trace`` reads
# (``READS_ABOVE_RUN``, in parent links; below the run it reads anything): the runs an
# arriving span can change are then the runs above it and those at most that far below
# it. A module that does not say is taken to read anywhere in the trace.
_READS_ABOVE: dict[str, int | None] = {
    scope: getattr(module, "READS_ABOVE_RUN", None)
    for module in rules.MODULES
    if hasattr(module, "derive_run_fields_in_trace")
    for scope in module.SCOPES
}


def runs_reading_across(
    con: duckdb.DuckDBPyConnection, arrived: Iterable[SpanRecord], parents: StoredParents
) -> set[str]:
    """The stored final runs whose run span is of :data:`ACROSS_TRACE_SCOPES` and whose
    derived fields a span of ``arrived`` of those scopes may change: every such run of its
    trace, or, for a module saying how far it reads (``READS_ABOVE_RUN``), the runs above
    the span and those close enough below it. ``parents``: the stored parents, as the
    derivation places the spans (collector/run_links.py)."""
    arriving: dict[str, list[str]] = {}
    for span in arrived:
        if span.scope_name in ACROSS_TRACE_SCOPES:
            arriving.setdefault(span.trace_id, []).append(span.span_id)
    if not arriving:
        return set()
    rows = con.execute(
        "SELECT r.id, r.trace_id, r.span_id, s.scope_name FROM agent_runs r JOIN spans s "
        "ON s.trace_id = r.trace_id AND s.span_id = r.span_id "
        "WHERE r.trace_id IN (SELECT unnest(?)) AND r.is_final "
        "AND s.scope_name IN (SELECT unnest(?))",
        [sorted(arriving), sorted(ACROSS_TRACE_SCOPES)],
    ).fetchall()
    found: set[str] = set()
    bounded: dict[str, list[tuple[str, str, int]]] = {}
    for run_id, trace_id, span_id, scope in rows:
        reach = _READS_ABOVE.get(scope)
        if reach is None:
            found.add(run_id)
        else:
            bounded.setdefault(trace_id, []).append((run_id, span_id, reach))
    if bounded:
        links = parents.of(set(bounded))
        children: dict[SpanKey, list[SpanKey]] = {}
        for child, parent in links.items():
            if parent is not None and parent[0] in bounded:
                children.setdefault(parent, []).append(child)
        for trace_id, runs in bounded.items():
            reach = max(r for _, _, r in runs)
            spans = [(trace_id, span_id) for span_id in arriving[trace_id]]
            near = _spans_near(spans, links, children, reach)
            found.update(
                run_id for run_id, span_id, r in runs if near.get((trace_id, span_id), r + 1) <= r
            )
    return found


def _spans_near(
    spans: list[SpanKey],
    parents: Mapping[SpanKey, SpanKey | None],
    children: Mapping[SpanKey, list[SpanKey]],
    below: int,
) -> dict[SpanKey, int]:
    """Span -> how far below the nearest of ``spans`` it is (0 for one of them or a span
    above one), for every span above them and those at most ``below`` links below."""
    near: dict[SpanKey, int] = {}
    for span in spans:  # every ancestor, each walked once
        key: SpanKey | None = span
        while key is not None and near.get(key) != 0:
            near[key] = 0
            key = parents.get(key)
    level = list(dict.fromkeys(spans))
    for depth in range(1, below + 1):
        level = [c for p in level for c in children.get(p, ()) if c not in near]
        for child in level:
            near[child] = depth
    return near
