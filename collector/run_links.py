"""Placing steps and nested runs whose run arrived in a later batch.

A step's span may be stored before the span of the run it belongs to; it waits
with ``agent_run_id`` NULL until that run arrives, then is adopted here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import duckdb

from collector.adk_branches import stored_corrections
from collector.id_lists import chunks, in_list
from collector.nearest_runs import NearestRuns, SpanKey, parent_key
from collector.pending_links import stored_pending_links
from collector.rule_parents import stored_named_parents
from collector.trace_arrivals import TraceArrivals, spans_reads

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa

__all__ = [
    "STAND_IN",
    "StoredParents",
    "trace_graph",
    "adopt_orphans",
    "load_orphan_traces",
    "runs_waiting_for_a_parent",
    "set_by_id",
]

# agent_runs.metadata of a stand-in run: steps whose run span is missing
# (collector/rootless_runs.py).
STAND_IN = json.dumps({"agent_audit": "run span not received"})


class StoredParents:
    """The parent of every stored span of some traces, each trace read once per transaction.

    The writer inserts a batch's spans first and changes no span after, so what
    one lookup of a trace read holds for the later ones in the same transaction
    (a batch of other frameworks' spans looks its traces up three times).
    ``arrivals`` bounds each read to the spans stored since the trace began
    (collector/trace_arrivals.py); without it every span is scanned.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, arrivals: TraceArrivals | None = None
    ) -> None:
        self._con = con
        self._arrivals = arrivals
        self._parents: dict[SpanKey, SpanKey | None] = {}
        self._read: set[str] = set()

    def of(self, trace_ids: set[str]) -> Mapping[SpanKey, SpanKey | None]:
        """Parents by (trace id, span id), for (at least) the spans of ``trace_ids``."""
        unread = sorted(trace_ids - self._read)
        if unread:
            for since, ids in spans_reads(self._arrivals, unread):
                self._parents.update(
                    ((trace, span), parent_key(trace, parent))
                    for trace, span, parent in self._con.execute(
                        "SELECT trace_id, span_id, parent_span_id FROM spans "
                        "WHERE trace_id IN (SELECT unnest(?)) AND received_at >= ?",
                        [ids, since],
                    ).fetchall()
                )
            # A span that never ended is placed by its pending copy; a real span wins.
            links = stored_pending_links(self._con, unread, self._parents)
            for real, parent in links.items():
                self._parents.setdefault(real, parent)
            # ADK's ParallelAgent branches' spans, back in their branch.
            self._parents.update(stored_corrections(self._con, unread))
            # Runs a framework's rule places below another span (collector/rule_parents.py).
            self._parents.update(stored_named_parents(self._con, unread))
            self._read.update(unread)
        return self._parents


def trace_graph(
    con: duckdb.DuckDBPyConnection, trace_ids: set[str], stored: StoredParents | None = None
) -> tuple[dict[SpanKey, SpanKey | None], dict[SpanKey, str]]:
    """Parents and run ids of the spans already stored for some traces, by
    (trace id, span id)."""
    parents = dict((stored or StoredParents(con)).of(trace_ids))
    # A stand-in for a missing run span is no run to hang steps or runs on.
    runs: dict[SpanKey, str] = {}
    for listed, params in map(in_list, chunks(sorted(trace_ids))):
        runs.update(
            ((trace, span), run_id)
            for trace, span, run_id in con.execute(
                "SELECT trace_id, span_id, id FROM agent_runs "
                f"WHERE trace_id IN ({listed}) "
                "AND (is_final OR metadata IS DISTINCT FROM ?)",
                [*params, STAND_IN],
            ).fetchall()
        )
    return parents, runs


def adopt_orphans(
    con: duckdb.DuckDBPyConnection,
    traces: set[str],
    orphan_traces: set[str],
    stored: StoredParents | None = None,
) -> set[str]:
    """Give steps that arrived before their run the run that has now arrived."""
    parents, run_spans = trace_graph(con, traces, stored)
    orphans = con.execute(
        "SELECT id, span_id, trace_id FROM agent_steps "
        "WHERE agent_run_id IS NULL AND trace_id IN (SELECT unnest(?))",
        [sorted(traces)],
    ).fetchall()
    adopted: dict[str, str] = {}
    still_orphan: set[str] = set()
    nearest = NearestRuns(parents, run_spans)
    for step_id, span_id, trace_id in orphans:
        run_id, _ = nearest.of((trace_id, span_id))
        if run_id is None:
            still_orphan.add(trace_id)
        else:
            adopted[step_id] = run_id
    # Runs nested in a run that has only now arrived: their span has a parent.
    nested = [
        row
        for listed, params in map(in_list, chunks(sorted(traces)))
        for row in con.execute(
            "SELECT id, span_id, trace_id FROM agent_runs "
            f"WHERE trace_id IN ({listed}) AND parent_run_id IS NULL",
            params,
        ).fetchall()
        if parents.get((row[2], row[1])) is not None
    ]
    parent_of: dict[str, str] = {}
    for run_id, span_id, trace_id in nested:
        parent_run, complete = nearest.of((trace_id, span_id))
        if parent_run is not None:
            parent_of[run_id] = parent_run
        elif not complete:
            still_orphan.add(trace_id)
    if parent_of:
        set_by_id(con, "agent_runs", "parent_run_id", parent_of)
    if adopted:
        set_by_id(con, "agent_steps", "agent_run_id", adopted)
    orphan_traces -= traces - still_orphan
    return set(adopted.values())


def set_by_id(
    con: duckdb.DuckDBPyConnection, table: str, column: str, values: Mapping[str, str | None]
) -> None:
    """``UPDATE table SET column = values[id]`` for every id in ``values``, by its index."""
    for chunk in chunks(list(values)):
        value = pa.array([values[i] for i in chunk], pa.string())
        con.register("_new_values", pa.table({"id": chunk, "value": value}))
        listed, params = in_list(chunk)
        con.execute(
            f"UPDATE {table} SET {column} = v.value FROM _new_values v "
            f"WHERE {table}.id IN ({listed}) AND {table}.id = v.id",
            params,
        )
        con.unregister("_new_values")


def load_orphan_traces(con: duckdb.DuckDBPyConnection, *, runs: bool = True) -> set[str]:
    """Traces with something still waiting (read at start-up): steps waiting for their
    run, and (``runs``) runs waiting for a span between them and their parent run (a
    sub-agent stored before the tool span that ran it)."""
    rows = con.execute(
        "SELECT DISTINCT trace_id FROM agent_steps WHERE agent_run_id IS NULL"
    ).fetchall()
    steps = {r[0] for r in rows}
    return steps | runs_waiting_for_a_parent(con) if runs else steps


def runs_waiting_for_a_parent(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Traces holding a run without a parent run whose span's ancestors, walked up
    to the first run or the trace's root, include a span not stored.

    Only runs without a parent run whose span has a parent start the walk, so a
    store of top-level runs costs one join. A walk ending at a missing span is
    waiting; a cycle ends the walk (UNION keeps each span once). A trace listed
    that is not waiting (its missing span a pending copy's) costs a lookup only.
    """
    rows = con.execute(
        """
        WITH RECURSIVE
        run_spans AS (
            SELECT trace_id, span_id FROM agent_runs
            WHERE trace_id IS NOT NULL AND (is_final OR metadata IS DISTINCT FROM ?)
        ),
        up(trace_id, span_id) AS (
            SELECT s.trace_id, s.parent_span_id
            FROM agent_runs r JOIN spans s ON s.trace_id = r.trace_id AND s.span_id = r.span_id
            WHERE r.parent_run_id IS NULL AND s.parent_span_id IS NOT NULL
            UNION
            SELECT s.trace_id, s.parent_span_id
            FROM up JOIN spans s ON s.trace_id = up.trace_id AND s.span_id = up.span_id
            WHERE s.parent_span_id IS NOT NULL
              AND NOT EXISTS (
                  SELECT 1 FROM run_spans rs
                  WHERE rs.trace_id = up.trace_id AND rs.span_id = up.span_id
              )
        )
        SELECT DISTINCT up.trace_id FROM up
        WHERE NOT EXISTS (
            SELECT 1 FROM spans s WHERE s.trace_id = up.trace_id AND s.span_id = up.span_id
        )
        """,
        [STAND_IN],
    ).fetchall()
    return {r[0] for r in rows}
