"""One ingest transaction: spans -> ``spans``, ``agent_runs``, ``agent_steps``.

Runs on the store's writer thread inside an open transaction. Rows go in as
Arrow tables (columnar, far faster than row-by-row SQL; see FACTS.md), after
choosing one winner per key, since DuckDB keeps the first of two equal keys in
one statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from collector import frameworks
from collector.chain import CONTENT_COLUMNS, ChainHead, append_rows
from collector.decode import SpanRecord
from collector.mapping import (
    RunRow,
    SpanClass,
    StepRow,
    build_run,
    build_step,
    classify,
    is_pending,
    nearest_run,
    pick_winners,
    real_span_id,
    run_id_of,
)
from instrumentation import attributes as A

__all__ = ["IngestState", "ingest_batch", "mark_lost_runs", "load_orphan_traces"]

_TS = pa.timestamp("us")

_SPAN_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("name", pa.string()),
        ("kind", pa.int32()),
        ("start_ns", pa.int64()),
        ("end_ns", pa.int64()),
        ("status_code", pa.int32()),
        ("status_message", pa.string()),
        ("service_name", pa.string()),
        ("scope_name", pa.string()),
        ("scope_version", pa.string()),
        ("resource", pa.string()),
        ("attributes", pa.string()),
        ("events", pa.string()),
        ("links", pa.string()),
        ("received_at", _TS),
    ]
)

_RUN_FIELDS: list[tuple[str, pa.DataType]] = [
    ("id", pa.string()),
    ("task", pa.string()),
    ("working_directory", pa.string()),
    ("model_requested", pa.string()),
    ("model_used", pa.string()),
    ("backend", pa.string()),
    ("status", pa.string()),
    ("final_answer", pa.string()),
    ("started_at", _TS),
    ("completed_at", _TS),
    ("duration_ms", pa.float64()),
    ("source", pa.string()),
    ("triggered_by", pa.string()),
    ("error", pa.string()),
    ("metadata", pa.string()),
    ("trace_id", pa.string()),
    ("span_id", pa.string()),
    ("parent_run_id", pa.string()),
    ("agent_name", pa.string()),
    ("service_name", pa.string()),
    ("provider", pa.string()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("is_final", pa.bool_()),
]
_RUN_SCHEMA = pa.schema([*_RUN_FIELDS, ("updated_at", _TS)])

_STEP_FIELDS: list[tuple[str, pa.DataType]] = [
    ("id", pa.string()),
    ("agent_run_id", pa.string()),
    ("action_type", pa.string()),
    ("tool_name", pa.string()),
    ("tool_args", pa.string()),
    ("tool_result", pa.string()),
    ("thinking", pa.string()),
    ("error", pa.string()),
    ("started_at", _TS),
    ("duration_ms", pa.float64()),
    ("trace_id", pa.string()),
    ("span_id", pa.string()),
    ("parent_span_id", pa.string()),
    ("name", pa.string()),
    ("status", pa.string()),
    ("model", pa.string()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("finish_reasons", pa.string()),
    ("is_final", pa.bool_()),
]
_STEP_SCHEMA = pa.schema(_STEP_FIELDS)

# Columns a pending copy or a repeated span may overwrite. A finished span
# always wins over a pending copy; a pending copy never replaces a finished row.
_RUN_UPDATABLE = [
    name
    for name, _ in _RUN_FIELDS
    if name not in {"id", "parent_run_id", "input_tokens", "output_tokens"}
]
_STEP_UPDATABLE = [name for name, _ in _STEP_FIELDS if name not in {"id", "agent_run_id"}]


def _dumps(value: Any) -> str:
    # orjson: about 3x faster than json here, and this runs on the single writer thread.
    try:
        return orjson.dumps(value, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):  # e.g. an int beyond 64 bits
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


@dataclass
class IngestState:
    """What the writer remembers between transactions."""

    # Traces holding steps whose run has not arrived yet.
    orphan_traces: set[str] = field(default_factory=set)
    # The hash chain's last link (collector/chain.py).
    chain_head: ChainHead = field(default_factory=lambda: ChainHead(0, b"\0" * 32))

    # Parents of recently stored foreign LLM spans: an outer model-call span
    # arriving later must absorb them (see _one_step_per_model_call). Bounded.
    foreign_llm_parents: set[str] = field(default_factory=set)

    def remember_foreign_llm(self, spans: Sequence[SpanRecord], classes: list[SpanClass]) -> None:
        for span, cls in zip(spans, classes, strict=True):
            if cls is SpanClass.LLM and span.parent_span_id and A.RUN_ID not in span.attributes:
                self.foreign_llm_parents.add(span.parent_span_id)
        if len(self.foreign_llm_parents) > 100_000:
            self.foreign_llm_parents.clear()  # rare pairs; a restart forgets them too


def _spans_table(spans: Sequence[SpanRecord], now: datetime) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in _SPAN_SCHEMA.names}
    for s in spans:
        columns["trace_id"].append(s.trace_id)
        columns["span_id"].append(s.span_id)
        columns["parent_span_id"].append(s.parent_span_id)
        columns["name"].append(s.name)
        columns["kind"].append(s.kind)
        columns["start_ns"].append(s.start_ns)
        columns["end_ns"].append(s.end_ns)
        columns["status_code"].append(s.status_code)
        columns["status_message"].append(s.status_message)
        columns["service_name"].append(s.service_name)
        columns["scope_name"].append(s.scope_name)
        columns["scope_version"].append(s.scope_version)
        columns["resource"].append(_dumps(s.resource))
        columns["attributes"].append(_dumps(s.attributes))
        columns["events"].append(_dumps(s.events))
        columns["links"].append(_dumps(s.links))
        columns["received_at"].append(now)
    return pa.table(columns, schema=_SPAN_SCHEMA)


def _rows_table(rows: Iterable[Any], schema: pa.Schema, extra: dict[str, Any]) -> pa.Table:
    names = [n for n in schema.names if n not in extra]
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    count = 0
    for row in rows:
        count += 1
        for name in names:
            columns[name].append(getattr(row, name))
    for name, value in extra.items():
        columns[name] = [value] * count
    return pa.table(columns, schema=schema)


def _trace_graph(
    con: duckdb.DuckDBPyConnection, trace_ids: set[str]
) -> tuple[dict[str, str | None], dict[str, str]]:
    """Parents and run span ids already stored for some traces."""
    ids = sorted(trace_ids)
    parents = dict(
        con.execute(
            "SELECT span_id, parent_span_id FROM spans WHERE trace_id IN (SELECT unnest(?))", [ids]
        ).fetchall()
    )
    runs = dict(
        con.execute(
            "SELECT span_id, id FROM agent_runs WHERE trace_id IN (SELECT unnest(?))", [ids]
        ).fetchall()
    )
    return parents, runs


def ingest_batch(
    con: duckdb.DuckDBPyConnection,
    spans: Sequence[SpanRecord],
    state: IngestState,
    now: datetime,
) -> None:
    """Store spans and the rows derived from them; the caller owns the transaction."""
    unique = list({(s.trace_id, s.span_id): s for s in spans}.values())
    con.register("_new_spans", _spans_table(unique, now))
    # RETURNING gives exactly the rows stored (a span seen before is skipped),
    # as DuckDB holds them: the chain hashes what verify will read back.
    inserted = con.execute(
        f"INSERT INTO spans SELECT * FROM _new_spans ON CONFLICT DO NOTHING "
        f"RETURNING {', '.join(CONTENT_COLUMNS)}"
    ).fetchall()
    con.unregister("_new_spans")
    state.chain_head = append_rows(con, state.chain_head, inserted)

    classes = _one_step_per_model_call(con, unique, [classify(s) for s in unique], state)
    state.remember_foreign_llm(unique, classes)
    parents: dict[str, str | None] = {}
    run_spans: dict[str, str] = {}
    for span, cls in zip(unique, classes, strict=True):
        if is_pending(span):
            continue
        parents[span.span_id] = span.parent_span_id
        if cls is SpanClass.RUN:
            run_spans[span.span_id] = run_id_of(span)

    # Resolve what the batch alone cannot place using what is already stored.
    needs_lookup: set[str] = set()
    for span, cls in zip(unique, classes, strict=True):
        if cls is SpanClass.OTHER or is_pending(span):
            continue
        if cls is not SpanClass.RUN and A.RUN_ID in span.attributes:
            continue
        _, complete = nearest_run(span.span_id, parents, run_spans)
        if not complete:
            needs_lookup.add(span.trace_id)
    if needs_lookup:
        stored_parents, stored_runs = _trace_graph(con, needs_lookup)
        parents = {**stored_parents, **parents}
        run_spans = {**stored_runs, **run_spans}

    runs: list[RunRow] = []
    foreign_runs: set[str] = set()  # runs whose fields other spans of the trace may fill
    steps: list[StepRow] = []
    for span, cls in zip(unique, classes, strict=True):
        if cls is SpanClass.OTHER:
            continue
        if cls is SpanClass.RUN:
            parent_run = None
            if not is_pending(span):
                parent_run, complete = nearest_run(span.span_id, parents, run_spans)
                if not complete:
                    state.orphan_traces.add(span.trace_id)  # its parent run may come later
            runs.append(build_run(span, parent_run))
            if A.RUN_ID not in span.attributes:
                foreign_runs.add(runs[-1].id)
            continue
        own_run = span.attributes.get(A.RUN_ID)
        run_id = str(own_run) if own_run else nearest_run(span.span_id, parents, run_spans)[0]
        steps.append(build_step(span, cls, run_id))
        if not own_run and run_id:
            foreign_runs.add(run_id)

    affected: set[str] = set()
    if runs:
        winners = pick_winners(runs, key=lambda r: r.id)
        _upsert_runs(con, winners, now)
        affected.update(r.id for r in winners)
    if steps:
        winners = pick_winners(steps, key=lambda s: s.id)
        _upsert_steps(con, winners)
        affected.update(s.agent_run_id for s in winners if s.agent_run_id)
        state.orphan_traces.update(s.trace_id for s in winners if s.agent_run_id is None)
    if runs and state.orphan_traces:
        traces = {r.trace_id for r in runs} & state.orphan_traces
        if traces:
            affected.update(_adopt_orphans(con, traces, state))
    if affected:
        _refresh_runs(con, affected, now)
        if foreign_runs & affected:
            _derive_foreign_runs(con, foreign_runs & affected)


def _upsert_runs(con: duckdb.DuckDBPyConnection, rows: list[RunRow], now: datetime) -> None:
    con.register("_new_runs", _rows_table(rows, _RUN_SCHEMA, {"updated_at": now}))
    columns = ", ".join(_RUN_SCHEMA.names)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _RUN_UPDATABLE)
    con.execute(
        f"""
        INSERT INTO agent_runs ({columns}, last_activity_at)
        SELECT {columns}, updated_at FROM _new_runs
        ON CONFLICT (id) DO UPDATE SET {updates},
            updated_at = excluded.updated_at,
            last_activity_at = excluded.updated_at,
            parent_run_id = coalesce(excluded.parent_run_id, agent_runs.parent_run_id),
            input_tokens = coalesce(excluded.input_tokens, agent_runs.input_tokens),
            output_tokens = coalesce(excluded.output_tokens, agent_runs.output_tokens)
        WHERE excluded.is_final OR NOT agent_runs.is_final
        """
    )
    con.unregister("_new_runs")


def _upsert_steps(con: duckdb.DuckDBPyConnection, rows: list[StepRow]) -> None:
    con.register("_new_steps", _rows_table(rows, _STEP_SCHEMA, {}))
    columns = ", ".join(_STEP_SCHEMA.names)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _STEP_UPDATABLE)
    con.execute(
        f"""
        INSERT INTO agent_steps ({columns}) SELECT {columns} FROM _new_steps
        ON CONFLICT (id) DO UPDATE SET {updates},
            agent_run_id = coalesce(excluded.agent_run_id, agent_steps.agent_run_id)
        WHERE excluded.is_final OR NOT agent_steps.is_final
        """
    )
    con.unregister("_new_steps")


def _adopt_orphans(
    con: duckdb.DuckDBPyConnection, traces: set[str], state: IngestState
) -> set[str]:
    """Give steps that arrived before their run the run that has now arrived."""
    parents, run_spans = _trace_graph(con, traces)
    orphans = con.execute(
        "SELECT id, span_id, trace_id FROM agent_steps "
        "WHERE agent_run_id IS NULL AND trace_id IN (SELECT unnest(?))",
        [sorted(traces)],
    ).fetchall()
    adopted: dict[str, str] = {}
    still_orphan: set[str] = set()
    for step_id, span_id, trace_id in orphans:
        run_id, _ = nearest_run(span_id, parents, run_spans)
        if run_id is None:
            still_orphan.add(trace_id)
        else:
            adopted[step_id] = run_id
    # Runs nested in a run that has only now arrived.
    nested = con.execute(
        "SELECT r.id, r.span_id, r.trace_id FROM agent_runs r JOIN spans s "
        "ON s.trace_id = r.trace_id AND s.span_id = r.span_id "
        "WHERE r.parent_run_id IS NULL AND s.parent_span_id IS NOT NULL "
        "AND r.trace_id IN (SELECT unnest(?))",
        [sorted(traces)],
    ).fetchall()
    parent_of: dict[str, str] = {}
    for run_id, span_id, trace_id in nested:
        parent_run, complete = nearest_run(span_id, parents, run_spans)
        if parent_run is not None:
            parent_of[run_id] = parent_run
        elif not complete:
            still_orphan.add(trace_id)
    if parent_of:
        parents_table = pa.table({"id": list(parent_of), "parent": list(parent_of.values())})
        con.register("_parents", parents_table)
        con.execute(
            "UPDATE agent_runs SET parent_run_id = p.parent FROM _parents p "
            "WHERE agent_runs.id = p.id"
        )
        con.unregister("_parents")
    if adopted:
        table = pa.table({"id": list(adopted), "run_id": list(adopted.values())})
        con.register("_adopted", table)
        con.execute(
            "UPDATE agent_steps SET agent_run_id = a.run_id FROM _adopted a "
            "WHERE agent_steps.id = a.id"
        )
        con.unregister("_adopted")
    state.orphan_traces -= traces - still_orphan
    return set(adopted.values())


def _refresh_runs(con: duckdb.DuckDBPyConnection, run_ids: set[str], now: datetime) -> None:
    """Renumber steps in start order and recompute each run's step aggregates."""
    con.register("_affected", pa.table({"id": sorted(run_ids)}))
    con.execute(
        """
        UPDATE agent_steps SET step_number = n.rn FROM (
            SELECT id, row_number() OVER (
                PARTITION BY agent_run_id ORDER BY started_at NULLS LAST, id) AS rn
            FROM agent_steps WHERE agent_run_id IN (SELECT id FROM _affected)
        ) n
        WHERE agent_steps.id = n.id AND agent_steps.step_number IS DISTINCT FROM n.rn
        """
    )
    con.execute(
        """
        UPDATE agent_runs SET
            total_steps = a.steps,
            input_tokens = CASE WHEN a.input_tokens IS NULL THEN agent_runs.input_tokens
                ELSE greatest(coalesce(agent_runs.input_tokens, 0), a.input_tokens) END,
            output_tokens = CASE WHEN a.output_tokens IS NULL THEN agent_runs.output_tokens
                ELSE greatest(coalesce(agent_runs.output_tokens, 0), a.output_tokens) END,
            model_used = coalesce(agent_runs.model_used, a.last_model),
            tool_names = a.tool_names,
            last_activity_at = ?,
            updated_at = ?
        FROM (
            SELECT agent_run_id, count(*) AS steps, sum(input_tokens) AS input_tokens,
                   sum(output_tokens) AS output_tokens,
                   arg_max(model, started_at) FILTER (WHERE model IS NOT NULL) AS last_model,
                   list_sort(list(DISTINCT tool_name) FILTER (WHERE tool_name IS NOT NULL))
                       AS tool_names
            FROM agent_steps WHERE agent_run_id IN (SELECT id FROM _affected)
            GROUP BY agent_run_id
        ) a
        WHERE agent_runs.id = a.agent_run_id
        """,
        [now, now],
    )
    con.unregister("_affected")


def mark_lost_runs(con: duckdb.DuckDBPyConnection, now: datetime, silence_s: float) -> int:
    """Mark running runs silent for longer than ``silence_s`` as lost; return how many."""
    row = con.execute(
        """
        UPDATE agent_runs SET status = 'lost', updated_at = ?
        WHERE status = 'running' AND NOT is_final
          AND last_activity_at < ? - to_microseconds(CAST(? * 1e6 AS BIGINT))
        RETURNING id
        """,
        [now, now, silence_s],
    ).fetchall()
    return len(row)


def load_orphan_traces(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Traces with steps still waiting for their run (read at start-up)."""
    rows = con.execute(
        "SELECT DISTINCT trace_id FROM agent_steps WHERE agent_run_id IS NULL"
    ).fetchall()
    return {r[0] for r in rows}


_DERIVED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("task", pa.string()),
        ("final_answer", pa.string()),
        ("model_requested", pa.string()),
        ("model_used", pa.string()),
        ("provider", pa.string()),
        ("status", pa.string()),
    ]
)


def _stored_span(row: tuple[Any, ...]) -> SpanRecord:
    (
        trace_id,
        span_id,
        parent,
        name,
        kind,
        start_ns,
        end_ns,
        status_code,
        status_message,
        scope_name,
        scope_version,
        resource,
        attributes,
        events,
    ) = row
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=kind or 0,
        start_ns=start_ns or 0,
        end_ns=end_ns or 0,
        status_code=status_code or 0,
        status_message=status_message or "",
        attributes=json.loads(attributes or "{}"),
        events=json.loads(events or "[]"),
        resource=json.loads(resource or "{}"),
        scope_name=scope_name or "",
        scope_version=scope_version or "",
    )


def _derive_foreign_runs(con: duckdb.DuckDBPyConnection, run_ids: set[str]) -> None:
    """Fill what a foreign run span lacks from its own spans (frameworks.derive_run_fields)."""
    runs = con.execute(
        "SELECT id, trace_id, span_id FROM agent_runs "
        "WHERE id IN (SELECT unnest(?)) AND id = span_id AND is_final",
        [sorted(run_ids)],
    ).fetchall()
    if not runs:
        return
    rows = con.execute(
        "SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, "
        "status_message, scope_name, scope_version, resource, attributes, events "
        "FROM spans WHERE trace_id IN (SELECT unnest(?))",
        [sorted({r[1] for r in runs})],
    ).fetchall()
    by_trace: dict[str, list[SpanRecord]] = {}
    for row in rows:
        span = _stored_span(row)
        if not is_pending(span):
            by_trace.setdefault(span.trace_id, []).append(span)
    derived: dict[str, list[Any]] = {name: [] for name in _DERIVED_SCHEMA.names}
    for run_id, trace_id, span_id in runs:
        spans = by_trace.get(trace_id, [])
        run_span = next((s for s in spans if s.span_id == span_id), None)
        if run_span is None:
            continue
        fields = frameworks.derive_run_fields(
            run_span, spans, is_run=lambda s: classify(s) is SpanClass.RUN
        )
        if not fields:
            continue
        derived["id"].append(run_id)
        for name in _DERIVED_SCHEMA.names[1:]:
            derived[name].append(fields.get(name))
    if not derived["id"]:
        return
    con.register("_derived", pa.table(derived, schema=_DERIVED_SCHEMA))
    con.execute(
        """
        UPDATE agent_runs SET
            task = coalesce(agent_runs.task, d.task),
            final_answer = coalesce(agent_runs.final_answer, d.final_answer),
            model_requested = coalesce(agent_runs.model_requested, d.model_requested),
            model_used = coalesce(agent_runs.model_used, d.model_used),
            provider = coalesce(agent_runs.provider, d.provider),
            status = CASE WHEN d.status IS NOT NULL AND agent_runs.status = 'completed'
                THEN d.status ELSE agent_runs.status END
        FROM _derived d WHERE agent_runs.id = d.id
        """
    )
    con.unregister("_derived")


def _one_step_per_model_call(
    con: duckdb.DuckDBPyConnection,
    spans: Sequence[SpanRecord],
    classes: list[SpanClass],
    state: IngestState,
) -> list[SpanClass]:
    """A model call traced twice is one step: the framework's LLM span, not the client's inside.

    An LLM span whose parent is an LLM span (in this batch, or a stored think step) is kept
    in ``spans`` only; an inner one stored before its parent arrived is removed from steps.
    """
    llm = {
        s.span_id
        for s, c in zip(spans, classes, strict=True)
        if c is SpanClass.LLM and not is_pending(s)
    }
    if not llm:
        return classes
    # The inner span of a doubly traced call is always another instrumentation's
    # (an HTTP client's); the outer one may be ours. Skip the table lookups when
    # neither side of such a pair can be in this batch.
    foreign_llm = any(
        c is SpanClass.LLM and A.RUN_ID not in s.attributes
        for s, c in zip(spans, classes, strict=True)
    )
    if not foreign_llm and not (llm & state.foreign_llm_parents):
        return classes
    outside = {
        s.parent_span_id
        for s, c in zip(spans, classes, strict=True)
        if c is SpanClass.LLM
        and s.parent_span_id
        and s.parent_span_id not in llm
        and not is_pending(s)
    }
    stored: set[str] = set()
    if outside:
        stored = {
            row[0]
            for row in con.execute(
                "SELECT span_id FROM agent_steps WHERE action_type = 'think' "
                "AND span_id IN (SELECT unnest(?))",
                [sorted(outside)],
            ).fetchall()
        }
    outer = llm | stored
    con.execute(
        "DELETE FROM agent_steps WHERE action_type = 'think' AND parent_span_id IN "
        "(SELECT unnest(?))",
        [sorted(llm)],
    )
    inner = {
        s.span_id
        for s, c in zip(spans, classes, strict=True)
        if c is SpanClass.LLM and not is_pending(s) and s.parent_span_id in outer
    }
    if not inner:
        return classes
    # Their pending copies: stored earlier as running steps, or in this very batch.
    con.execute("DELETE FROM agent_steps WHERE id IN (SELECT unnest(?))", [sorted(inner)])
    result = [
        SpanClass.OTHER
        if (s.span_id in inner or (is_pending(s) and real_span_id(s) in inner))
        else c
        for s, c in zip(spans, classes, strict=True)
    ]
    return result
