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
    con: duckdb.DuckDBPyConnection, table: str, column: str, values: Mapping[str, str]
) -> None:
    """``UPDATE table SET column = values[id]`` for every id in ``values``, by its index."""
    for chunk in chunks(list(values)):
        con.register("_new_values", pa.table({"id": chunk, "value": [values[i] for i in chunk]}))
        listed, params = in_list(chunk)
        con.execute(
            f"UPDATE {table} SET {column} = v.value FROM _new_values v "
            f"WHERE {table}.id IN ({listed}) AND {table}.id = v.id",
            params,
        )
        con.unregister("_new_values")


def load_orphan_traces(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Traces with steps still waiting for their run (read at start-up)."""
    rows = con.execute(
        "SELECT DISTINCT trace_id FROM agent_steps WHERE agent_run_id IS NULL"
    ).fetchall()
    return {r[0] for r in rows}
