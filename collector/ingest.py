"""One ingest transaction: spans -> ``spans``, ``agent_runs``, ``agent_steps``.

Runs on the store's writer thread inside an open transaction. Rows go in as
Arrow tables (collector/arrow_rows.py) after choosing one winner per key, since
DuckDB keeps the first of two equal keys in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

import duckdb

from collector import rule_parents
from collector.across_runs import runs_reading_across
from collector.adk_branches import replace_corrected_steps, stored_corrections
from collector.arrow_rows import columns_table, rows_table, span_columns
from collector.chain import CONTENT_COLUMNS, ChainHead, append_rows
from collector.chain_key import ChainKey
from collector.columns import AGENT_RUNS, AGENT_STEPS, ArrowSchema
from collector.conventions import google_adk as ADK
from collector.decode import SpanRecord
from collector.foreign_runs import derive_foreign_runs
from collector.fresh_runs import FreshRuns, fresh_runs
from collector.guarded_mapping import classify_guarded, mapped_or_none
from collector.id_lists import chunks, in_list
from collector.live_tasks import fill_live_tasks
from collector.mapping import (
    RunRow,
    SpanClass,
    StepRow,
    build_run,
    build_step,
    is_pending,
    own_run_id,
    pick_winners,
    run_id_of,
)
from collector.message_tools import source_span_id, told_tool_spans
from collector.model_calls import ForeignLlmParents, one_step_per_model_call
from collector.nearest_runs import NearestRuns, SpanKey, parent_key
from collector.pending_links import pending_link
from collector.program_runs import program_roots_as_runs
from collector.rootless_runs import (
    fail_cut_runs_on_a_failed_step,
    place_rootless_steps,
    settle_stand_ins,
)
from collector.run_links import StoredParents, adopt_orphans, load_orphan_traces, trace_graph
from collector.trace_arrivals import TraceArrivals
from collector.trace_owned_ids import keep_ids_in_their_trace
from collector.twice_traced_calls import RecentCalls, one_step_per_call_side_by_side
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    from collector.lazy_modules import pyarrow as pa
    from collector.lazy_modules import pyarrow_compute as pc

__all__ = ["IngestState", "ingest_batch", "load_orphan_traces", "mark_lost_runs", "refresh_runs"]

# The columns a span writes; the others are aggregates kept by refresh_runs.
_RUN_SCHEMA = ArrowSchema(c for c in AGENT_RUNS if c.ingested)
_STEP_SCHEMA = ArrowSchema(c for c in AGENT_STEPS if c.ingested)

# Columns a pending copy or a repeated span may overwrite. A finished span
# always wins over a pending copy; a pending copy never replaces a finished row.
_RUN_UPDATABLE = [
    name
    for name in _RUN_SCHEMA.names
    if name not in {"id", "parent_run_id", "input_tokens", "output_tokens", "updated_at"}
]
_TRACE_ID = CONTENT_COLUMNS.index("trace_id")
_SPAN_ID = CONTENT_COLUMNS.index("span_id")
_STEP_UPDATABLE = [name for name in _STEP_SCHEMA.names if name not in {"id", "agent_run_id"}]


@dataclass
class IngestState:
    """What the writer remembers between transactions."""

    # Traces holding steps whose run has not arrived yet.
    orphan_traces: set[str] = field(default_factory=set)
    # The hash chain's last link (collector/chain.py).
    chain_head: ChainHead = field(default_factory=lambda: ChainHead(0, b"\0" * 32))
    foreign_llm: ForeignLlmParents = field(default_factory=ForeignLlmParents)
    # The chain's HMAC key; None links with plain sha256 (verification's replay).
    chain_key: ChainKey | None = None
    # Traces with steps under a stand-in run, or in a cancelled run their spans do not
    # reach yet (collector/rootless_runs.py).
    rootless_traces: set[str] = field(default_factory=set)
    # Model calls a client and an instrumentation may both trace (twice_traced_calls.py).
    recent_calls: RecentCalls = field(default_factory=RecentCalls)


def ingest_batch(
    con: duckdb.DuckDBPyConnection,
    spans: Sequence[SpanRecord],
    state: IngestState,
    now: datetime,
    *,
    spans_new: bool = False,
) -> None:
    """Store spans and the rows derived from them; the caller owns the transaction.

    ``spans_new``: the caller expects no span to be stored already, and inserts
    them without the conflict check (2-3x cheaper); a span stored already then
    fails the transaction with ``duckdb.ConstraintException``, and the caller
    tries again without it.

    A span id already stored, or seen earlier in ``spans``, is skipped whole:
    the first version received is the one kept, and runs and steps are derived
    only from spans stored here, so a later span re-using an id (a sender's
    bug, or a forgery) cannot rewrite a run or step that its stored span no
    longer backs (``verify`` would report the run altered)."""
    first: dict[tuple[str, str], SpanRecord] = {}
    for span in spans:
        first.setdefault((span.trace_id, span.span_id), span)
    unique = list(first.values())
    parts = _parts_without_shared_span_ids(unique)
    if len(parts) > 1:
        # Traces sharing a span id (a collision or a forgery): the batch's parent links
        # are keyed by span id, so each part has each id in one trace (order kept).
        for part in parts:
            ingest_batch(con, part, state, now, spans_new=spans_new)
        return
    columns = span_columns(unique, now)
    con.register("_new_spans", columns_table(columns))
    # RETURNING names the rows stored (a span seen before is skipped). The chain
    # hashes those rows' values as inserted, which are what verify reads back:
    # every column is text or an integer, stored as given. Returning the keys
    # only spares reading the whole rows (their JSON) back into Python.
    if spans_new:
        con.execute("INSERT INTO spans SELECT * FROM _new_spans")
        stored = set(first)
    else:
        stored = set(
            con.execute(
                "INSERT INTO spans SELECT * FROM _new_spans ON CONFLICT DO NOTHING "
                "RETURNING trace_id, span_id"
            ).fetchall()
        )
    con.unregister("_new_spans")
    content = [columns[name] for name in CONTENT_COLUMNS]
    inserted = [
        row for row in zip(*content, strict=True) if (row[_TRACE_ID], row[_SPAN_ID]) in stored
    ]
    state.chain_head = append_rows(con, state.chain_head, inserted, state.chain_key)
    unique = [s for s in unique if (s.trace_id, s.span_id) in stored]
    # Tool calls only messages tell (no span of their own): mapped, never stored as spans.
    unique += told_tool_spans(unique)
    arrivals = TraceArrivals(con)
    arrivals.record({s.trace_id for s in unique}, now)
    # Read after the insert: this batch's spans included.
    span_parents = StoredParents(con, arrivals)

    left_runs: set[str] = set()  # runs a doubly traced model call's inner step left
    classes = one_step_per_model_call(
        con, unique, [classify_guarded(s) for s in unique], state.foreign_llm, left_runs
    )
    classes = one_step_per_call_side_by_side(con, unique, classes, state.recent_calls, left_runs)
    # A program's own span around model calls no run holds is their run.
    unique, classes, programs = program_roots_as_runs(con, unique, classes, span_parents)
    state.foreign_llm.remember(unique, classes)
    # Spans by (trace id, span id): a parent is looked up in its child's trace only.
    parents: dict[SpanKey, SpanKey | None] = {}
    run_spans: dict[SpanKey, str] = {}
    links: dict[SpanKey, SpanKey] = {}  # spans that may never end, placed by pending copies
    for span, cls in zip(unique, classes, strict=True):
        if is_pending(span):
            link = pending_link(span)
            if link is not None:
                links[(span.trace_id, link[0])] = (span.trace_id, link[1])
            continue
        parents[(span.trace_id, span.span_id)] = parent_key(span.trace_id, span.parent_span_id)
        if cls is SpanClass.RUN:
            run_spans[(span.trace_id, span.span_id)] = run_id_of(span)
    for real, parent in links.items():
        parents.setdefault(real, parent)
    adk_traces = {s.trace_id for s in unique if s.scope_name == ADK.SCOPE}
    adk_fixes = stored_corrections(con, sorted(adk_traces)) if adk_traces else {}
    parents.update(adk_fixes)  # ADK's ParallelAgent branches' spans, back in their branch
    # Runs a framework's rule places below another span (collector/rule_parents.py): the
    # batch's own run spans here; the stored ones are placed again below.
    named_traces = {s.trace_id for s in unique if s.scope_name in rule_parents.SCOPES}
    named = rule_parents.stored_named_parents(con, named_traces) if named_traces else {}
    parents.update((key, parent) for key, parent in named.items() if key in parents)

    # Resolve what the batch alone cannot place using what is already stored.
    needs_lookup: set[str] = set()
    nearest = NearestRuns(parents, run_spans)
    for span, cls in zip(unique, classes, strict=True):
        if cls is SpanClass.OTHER or is_pending(span):
            continue
        if cls is not SpanClass.RUN and own_run_id(span):
            continue
        _, complete = nearest.of((span.trace_id, span.span_id))
        if not complete:
            needs_lookup.add(span.trace_id)
    if needs_lookup:
        stored_parents, stored_runs = trace_graph(con, needs_lookup, span_parents)
        parents = {**stored_parents, **parents}
        run_spans = {**stored_runs, **run_spans}
        nearest = NearestRuns(parents, run_spans)

    runs: list[RunRow] = []
    steps: list[StepRow] = []
    made: list[RunRow | StepRow] = []  # both, in arrival order
    # Rows whose run's fields other spans of the trace may fill (ids known after scoping).
    foreign_rows: list[RunRow | StepRow] = []
    for span, cls in zip(unique, classes, strict=True):
        if cls is SpanClass.OTHER:
            continue
        if cls is SpanClass.RUN:
            parent_run = None
            if not is_pending(span):
                parent_run, complete = nearest.of((span.trace_id, span.span_id))
                if not complete:
                    state.orphan_traces.add(span.trace_id)  # its parent run may come later
            run = mapped_or_none(span, partial(build_run, span, parent_run))
            if (
                run is not None
                and run.agent_name is None
                and (span.trace_id, span.span_id) in programs
            ):
                run.agent_name = span.name or None  # the program's name for its work
            if run is not None:
                runs.append(run)
                made.append(run)
                if A.RUN_ID not in span.attributes:
                    foreign_rows.append(run)
            continue
        own_run = own_run_id(span)
        run_id = own_run or nearest.of((span.trace_id, span.span_id))[0]
        step = mapped_or_none(span, partial(build_step, span, cls, run_id))
        if step is None:
            continue
        step.span_id = source_span_id(span) or step.span_id  # a stored span: its run's below
        steps.append(step)
        made.append(step)
        if not own_run and run_id:
            foreign_rows.append(step)
    stored_ids = keep_ids_in_their_trace(con, made)
    foreign_runs = {r.id if isinstance(r, RunRow) else r.agent_run_id for r in foreign_rows}

    run_winners = pick_winners(runs, key=lambda r: r.id)
    step_winners = pick_winners(steps, key=lambda s: s.id)
    old_runs, old_steps = stored_ids.runs, stored_ids.steps
    fresh = fresh_runs(
        con,
        run_winners,
        step_winners,
        old_runs,
        old_steps,
        stored_ids.run_rows_known,
        stored_ids.run_steps_known,
    )
    affected: set[str] = set()
    if run_winners:
        _upsert_runs(con, run_winners, now, old_runs, fresh)
        affected.update(r.id for r in run_winners)
    if step_winners:
        _upsert_steps(con, step_winners, old_steps, fresh)
        affected.update(s.agent_run_id for s in step_winners if s.agent_run_id)
        state.orphan_traces.update(s.trace_id for s in step_winners if s.agent_run_id is None)
    # Runs whose steps changed after the inserts are refreshed in SQL even if fresh.
    moved: set[str] = set()
    if state.orphan_traces:
        # A missing run, or a missing span between a step and its run, may have arrived.
        traces = {s.trace_id for s in unique} & state.orphan_traces
        if traces:
            moved.update(adopt_orphans(con, traces, state.orphan_traces, span_parents))
    waiting = {s.trace_id for s in unique} & (state.orphan_traces | state.rootless_traces)
    if waiting:
        arrived = {(s.trace_id, s.span_id): s for s in unique}
        changed, still = place_rootless_steps(con, waiting, now, arrived, span_parents)
        moved.update(changed)
        state.rootless_traces = (state.rootless_traces - waiting) | still
    if adk_fixes:
        # Steps stored before what placed them back in their branch arrived.
        moved.update(replace_corrected_steps(con, adk_traces, set(adk_fixes), span_parents))
    placed: set[str] = set()
    if named:
        # Runs stored before what names their parent arrived, or placed otherwise since.
        placed = rule_parents.place_named_runs(
            con, named_traces, set(named), span_parents, state.orphan_traces
        )
    moved |= left_runs
    affected |= moved
    stale = (affected - fresh.run_ids) | moved
    if stale:
        refresh_runs(con, stale, now)
    # A run whose steps arrived before a span between them and it (AutoGen's agent span
    # can end after its run's) is given them only now: its fields are derived again.
    rederive = (foreign_runs & affected) | moved | placed
    # Runs whose fields read beyond their subtree: what they read may have just arrived.
    rederive |= runs_reading_across(con, unique, span_parents)
    if rederive:
        derive_foreign_runs(con, rederive, arrivals)
    # Runs shown from their pending copies alone. A run whose finished span is in this
    # batch is final now (the upsert lets a finished row win), and is left alone there.
    live = affected - {r.id for r in run_winners if r.is_final}
    if live:
        fill_live_tasks(con, live)
    # Runs still open when their process shut tracing down (instrumentation/pending.py).
    cut = [r.id for r in run_winners if r.status == RunStatus.CANCELLED and not r.is_final]
    fail_cut_runs_on_a_failed_step(con, cut)


def _parts_without_shared_span_ids(spans: list[SpanRecord]) -> list[list[SpanRecord]]:
    """``spans`` cut, in order, into parts in which each span id, as a span's own or as
    a parent, belongs to one trace."""
    parts: list[list[SpanRecord]] = [[]]
    trace_of: dict[str, str] = {}
    for span in spans:
        ids = (span.span_id, span.parent_span_id)
        if any(i and trace_of.get(i, span.trace_id) != span.trace_id for i in ids):
            parts.append([])
            trace_of = {}
        parts[-1].append(span)
        for i in ids:
            if i:
                trace_of[i] = span.trace_id
    return parts


def _insert_or_upsert(
    con: duckdb.DuckDBPyConnection,
    rows: pa.Table,
    stored: set[str],
    insert: str,
    upsert: str,
) -> None:
    """New rows by a plain INSERT, rows already stored by the upsert.

    An upsert costs about four times a plain insert once the table holds a few
    hundred thousand rows (its conflict check), and almost every row of a batch
    is new: the writer is the one writer, so looking the ids up first is exact.
    """
    if stored:
        ids = rows.column("id").to_pylist()
        mask = pa.array([row_id in stored for row_id in ids])
        con.register("_stored_rows", rows.filter(mask))
        con.execute(upsert.format(source="_stored_rows"))
        con.unregister("_stored_rows")
        rows = rows.filter(pc.invert(mask))
    if rows.num_rows:
        con.register("_new_rows", rows)
        con.execute(insert.format(source="_new_rows"))
        con.unregister("_new_rows")


# Inserted with the aggregates a fresh run's batch decides (collector/fresh_runs.py);
# an upsert of a stored row leaves them to refresh_runs.
_TOTAL_STEPS = "total_steps"  # INTEGER
_TOOL_NAMES = "tool_names"  # VARCHAR[]
_STEP_NUMBER = "step_number"  # INTEGER
_RUN_COLUMNS = ", ".join([*_RUN_SCHEMA.names, _TOTAL_STEPS, _TOOL_NAMES])
_INSERT_RUNS = f"""
    INSERT INTO agent_runs ({_RUN_COLUMNS}, last_activity_at)
    SELECT {_RUN_COLUMNS}, updated_at FROM {{source}}
"""
_UPSERT_RUNS = (
    _INSERT_RUNS
    + f"""
    ON CONFLICT (id) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in _RUN_UPDATABLE)},
        updated_at = excluded.updated_at,
        last_activity_at = excluded.updated_at,
        parent_run_id = coalesce(excluded.parent_run_id, agent_runs.parent_run_id),
        input_tokens = coalesce(excluded.input_tokens, agent_runs.input_tokens),
        output_tokens = coalesce(excluded.output_tokens, agent_runs.output_tokens)
    WHERE excluded.is_final OR NOT agent_runs.is_final
"""
)
_STEP_COLUMNS = ", ".join([*_STEP_SCHEMA.names, _STEP_NUMBER])
_INSERT_STEPS = f"""
    INSERT INTO agent_steps ({_STEP_COLUMNS}) SELECT {_STEP_COLUMNS} FROM {{source}}
"""
_UPSERT_STEPS = (
    _INSERT_STEPS
    + f"""
    ON CONFLICT (id) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in _STEP_UPDATABLE)},
        agent_run_id = coalesce(excluded.agent_run_id, agent_steps.agent_run_id)
    WHERE excluded.is_final OR NOT agent_steps.is_final
"""
)


def _upsert_runs(
    con: duckdb.DuckDBPyConnection,
    rows: list[RunRow],
    now: datetime,
    stored: set[str],
    fresh: FreshRuns,
) -> None:
    rows = [fresh.runs.get(r.id, r) for r in rows]
    table = rows_table(rows, _RUN_SCHEMA.schema, {"updated_at": now})
    # A new run has no step yet unless it is fresh (its steps are in this batch).
    counted = [fresh.aggregates.get(r.id, (0, None)) for r in rows]
    total_steps = pa.field(_TOTAL_STEPS, pa.int32())
    tool_names = pa.field(_TOOL_NAMES, pa.list_(pa.string()))
    table = table.append_column(total_steps, pa.array([c[0] for c in counted], total_steps.type))
    table = table.append_column(tool_names, pa.array([c[1] for c in counted], tool_names.type))
    _insert_or_upsert(con, table, stored, _INSERT_RUNS, _UPSERT_RUNS)


def _upsert_steps(
    con: duckdb.DuckDBPyConnection, rows: list[StepRow], stored: set[str], fresh: FreshRuns
) -> None:
    table = rows_table(rows, _STEP_SCHEMA.schema, {})
    numbers = [fresh.step_numbers.get(r.id) for r in rows]
    table = table.append_column(pa.field(_STEP_NUMBER, pa.int32()), pa.array(numbers, pa.int32()))
    _insert_or_upsert(con, table, stored, _INSERT_STEPS, _UPSERT_STEPS)


# The batch's runs and their steps, read through the id and agent_run_id indexes
# (collector/id_lists.py). Steps that started in the same instant (JavaScript's clocks
# tell milliseconds: a tool that took less than one, and the model call sent its result)
# come in the order they ended.
_RENUMBER_STEPS = """
    UPDATE agent_steps SET step_number = n.rn FROM (
        SELECT id, row_number() OVER (
            PARTITION BY agent_run_id
            ORDER BY started_at NULLS LAST, duration_ms NULLS LAST, id) AS rn
        FROM agent_steps WHERE agent_run_id IN ({ids})
    ) n
    WHERE agent_steps.agent_run_id IN ({ids}) AND agent_steps.id = n.id
      AND agent_steps.step_number IS DISTINCT FROM n.rn
"""
_REAGGREGATE_RUNS = """
    UPDATE agent_runs SET
        total_steps = a.steps,
        input_tokens = CASE WHEN a.input_tokens IS NULL THEN agent_runs.input_tokens
            ELSE greatest(coalesce(agent_runs.input_tokens, 0), a.input_tokens) END,
        output_tokens = CASE WHEN a.output_tokens IS NULL THEN agent_runs.output_tokens
            ELSE greatest(coalesce(agent_runs.output_tokens, 0), a.output_tokens) END,
        model_used = coalesce(agent_runs.model_used, a.last_model),
        tool_names = a.tool_names,
        -- A step after the silence that marked the run lost: it was not lost after all.
        status = CASE WHEN agent_runs.status = '{lost}' AND NOT agent_runs.is_final
            THEN '{running}' ELSE agent_runs.status END,
        last_activity_at = $1,
        updated_at = $1
    FROM (
        SELECT agent_run_id, count(*) AS steps, sum(input_tokens) AS input_tokens,
               sum(output_tokens) AS output_tokens,
               arg_max(model, started_at) FILTER (WHERE model IS NOT NULL) AS last_model,
               list_sort(list(DISTINCT tool_name) FILTER (WHERE tool_name IS NOT NULL))
                   AS tool_names
        FROM agent_steps WHERE agent_run_id IN ({ids})
        GROUP BY agent_run_id
    ) a
    WHERE agent_runs.id IN ({ids}) AND agent_runs.id = a.agent_run_id
"""


def refresh_runs(con: duckdb.DuckDBPyConnection, run_ids: set[str], now: datetime) -> None:
    """Renumber steps in start order and recompute each run's step aggregates."""
    for chunk in chunks(sorted(run_ids)):
        # Numbered parameters: each list of ids appears twice in a statement.
        listed, params = in_list(chunk, first=1)
        con.execute(_RENUMBER_STEPS.format(ids=listed), params)
        listed, params = in_list(chunk, first=2)
        con.execute(
            _REAGGREGATE_RUNS.format(ids=listed, lost=RunStatus.LOST, running=RunStatus.RUNNING),
            [now, *params],
        )


def mark_lost_runs(con: duckdb.DuckDBPyConnection, now: datetime, silence_s: float) -> int:
    """Mark running runs silent for longer than ``silence_s`` as lost; return how many."""
    row = con.execute(
        f"""
        UPDATE agent_runs SET status = '{RunStatus.LOST}', updated_at = ?
        WHERE status = '{RunStatus.RUNNING}' AND NOT is_final
          AND last_activity_at < ? - to_microseconds(CAST(? * 1e6 AS BIGINT))
        RETURNING id
        """,
        [now, now, silence_s],
    ).fetchall()
    settle_stand_ins(con, [r[0] for r in row])
    return len(row)
