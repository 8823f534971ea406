"""Runs that a framework's rule places below another span than their own span's parent.

A run's parent run is the nearest run above its span. Some frameworks' span trees say
otherwise than their own logs: ADK 2 runs the agent a ``transfer_to_agent`` hands over to
beside the agent that handed over. A rule module (collector/rules/) may then name, from the
spans, the span a run hangs under:

- ``run_parents(spans) -> dict[run span id, span id | None]``: for the run spans among
  ``spans`` (one trace's spans of the module's scopes), the span each is placed below
  instead of its own parent (None: a top-level run). The run's parent run is then the
  nearest run at or above that span; the spans below the run stay below it.
- ``RUN_PARENT_SPANS``: SQL ``LIKE`` patterns of the names of the spans ``run_parents``
  reads (the read of the stored spans is bounded by them).

The named span stands for the run span's parent wherever the collector walks up from a
span: at ingest, in the stored parents (collector/run_links.py) and in the derivation of
runs' fields (collector/foreign_runs.py). Every batch holding a span of such a module's
scopes asks it again over the trace's stored spans, and the runs it names are placed again
(:func:`place_named_runs`): a deciding span that arrives after the run moves it then, so the
stored parent is the one the whole trace gives, in any arrival order. The spans themselves
stay as sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING

from collector import rules
from collector.decode import SpanRecord
from collector.nearest_runs import NearestRuns, SpanKey, parent_key
from instrumentation import attributes as A

if TYPE_CHECKING:
    import duckdb

    from collector.run_links import StoredParents

__all__ = [
    "SCOPES",
    "named_parents",
    "place_named_runs",
    "stored_named_parents",
    "with_named_parents",
]

_MODULES: tuple[ModuleType, ...] = tuple(m for m in rules.MODULES if hasattr(m, "run_parents"))
# Scopes whose spans may change where a run of their trace is placed.
SCOPES = frozenset(scope for module in _MODULES for scope in module.SCOPES)


def named_parents(records: Iterable[SpanRecord]) -> dict[str, str | None]:
    """Run span id -> the span its run is placed below, for one trace's ``records``."""
    by_module: dict[ModuleType, list[SpanRecord]] = {}
    for record in records:
        if record.scope_name in SCOPES:
            module = rules.for_span(record)
            if module is not None:
                by_module.setdefault(module, []).append(record)
    named: dict[str, str | None] = {}
    for module, spans in by_module.items():
        named.update(module.run_parents(spans))
    return named


def with_named_parents(records: list[SpanRecord]) -> list[SpanRecord]:
    """``records`` (one trace's) with each named run span below the span named for it."""
    named = named_parents(records)
    if not named:
        return records
    return [
        replace(r, parent_span_id=named[r.span_id]) if r.span_id in named else r for r in records
    ]


def _stored_spans_query() -> str:
    names = " OR ".join(
        f"(scope_name IN ({', '.join(repr(s) for s in sorted(m.SCOPES))}) AND ("
        + " OR ".join(f"name LIKE {pattern!r}" for pattern in m.RUN_PARENT_SPANS)
        + "))"
        for m in _MODULES
    )
    return f"""
        SELECT trace_id, span_id, parent_span_id, name, start_ns, status_code, scope_name,
               attributes
        FROM spans WHERE trace_id IN (SELECT unnest(?)) AND ({names or "false"})
          AND NOT coalesce(json_extract_string(attributes, '$."{A.PENDING}"') = 'true', FALSE)
        ORDER BY trace_id
    """


_STORED = _stored_spans_query()


def stored_named_parents(
    con: duckdb.DuckDBPyConnection, trace_ids: Iterable[str]
) -> dict[SpanKey, SpanKey | None]:
    """:func:`named_parents` over the stored spans of these traces, by (trace id, span id)."""
    traces = sorted(trace_ids)
    if not traces or not _MODULES:
        return {}
    by_trace: dict[str, list[SpanRecord]] = {}
    for trace_id, span_id, parent, name, start_ns, status, scope, attributes in con.execute(
        _STORED, [traces]
    ).fetchall():
        try:
            parsed = json.loads(attributes or "{}")
        except ValueError:
            parsed = {}
        by_trace.setdefault(trace_id, []).append(
            SpanRecord(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                name=name,
                kind=0,
                start_ns=start_ns or 0,
                end_ns=0,
                status_code=status or 0,
                status_message="",
                attributes=parsed if isinstance(parsed, dict) else {},
                events=[],
                resource={},
                scope_name=scope or "",
                scope_version="",
            )
        )
    named: dict[SpanKey, SpanKey | None] = {}
    for trace_id, spans in by_trace.items():
        named.update(
            ((trace_id, run), parent_key(trace_id, parent))
            for run, parent in named_parents(spans).items()
        )
    return named


def place_named_runs(
    con: duckdb.DuckDBPyConnection,
    trace_ids: set[str],
    named: set[SpanKey],
    stored: StoredParents,
    orphan_traces: set[str],
) -> set[str]:
    """Give the runs of the ``named`` run spans the parent run the named span leads to.
    A run whose named span leads to a span not stored yet waits for it (its trace joins
    ``orphan_traces``). Returns the runs whose parent changed and their parents, old and
    new (what they read below them changed)."""
    from collector.run_links import set_by_id, trace_graph  # run_links reads this module

    parents, run_spans = trace_graph(con, trace_ids, stored)
    nearest = NearestRuns(parents, run_spans)
    rows = con.execute(
        "SELECT id, trace_id, span_id, parent_run_id FROM agent_runs "
        "WHERE trace_id IN (SELECT unnest(?)) AND span_id IN (SELECT unnest(?)) AND is_final",
        [sorted(trace_ids), sorted({span_id for _, span_id in named})],
    ).fetchall()
    moves: dict[str, str | None] = {}
    touched: set[str] = set()
    for run_id, trace_id, span_id, current in rows:
        if (trace_id, span_id) not in named:
            continue  # another trace's span of the same id
        parent_run, complete = nearest.of((trace_id, span_id))
        if not complete:
            orphan_traces.add(trace_id)  # the run placed below it may come later
        elif parent_run != current:
            moves[run_id] = parent_run
            touched.update(r for r in (run_id, current, parent_run) if r is not None)
    if moves:
        set_by_id(con, "agent_runs", "parent_run_id", moves)
    return touched
