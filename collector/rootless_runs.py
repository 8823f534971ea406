"""Runs whose run span has not arrived (yet, or ever).

Some frameworks never end a failed run's span, and a process that dies never exports it:
its steps would belong to no run. Such steps are gathered under a stand-in run whose id
is the span id of their topmost missing ancestor: visible as ``running`` while steps
arrive, its start its earliest step's and its task taken from its first model call (the
request inside the framework's own prompt, collector/rules/), whatever order they arrive
in, then settled by the stall rule
(``failed`` with the failing step's error, or ``lost``). When the missing span arrives
and is the run, its row replaces the stand-in (same id, and a finished span wins); when
it is some other span, the steps are placed again one level up, or under the real run.

A run cut off by Ctrl-C or a cancellation can end while a span between it and its last
steps never does (Strands' event-loop cycle): steps that started within a ``cancelled``
run of their trace, with no run between, are that run's (the innermost one), not a
stand-in's; when the span between arrives after all, that run is derived again (what it
reads from its own spans, its task and models, now reaches those steps).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from collector import frameworks
from collector.columns import AGENT_RUNS, ArrowSchema
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.foreign_runs import stored_span
from collector.id_lists import chunks, in_list
from collector.mapping import is_pending, ns_to_datetime
from collector.nearest_runs import NearestRuns
from collector.run_links import STAND_IN, StoredParents, set_by_id, trace_graph
from collector.trace_owned_ids import owned_run_id, stored_run_owners, trace_scoped_id
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus, StepStatus

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa

__all__ = [
    "STAND_IN",
    "fail_cut_runs_on_a_failed_step",
    "load_rootless_traces",
    "place_rootless_steps",
    "settle_stand_ins",
]


def place_rootless_steps(
    con: duckdb.DuckDBPyConnection,
    traces: set[str],
    now: datetime,
    arrived: Mapping[tuple[str, str], SpanRecord] | None = None,
    stored: StoredParents | None = None,
) -> tuple[set[str], set[str]]:
    """Put the runless steps of ``traces`` under stand-ins (or their real run, now known).

    ``arrived``: the batch's spans by (trace id, span id), stored in this transaction;
    a stand-in's first model call is usually among them and is not read back.
    ``stored``: the transaction's parents already read (collector/run_links.py).
    Returns the runs whose steps changed, and the traces that still have stand-ins.
    """
    if not traces:
        return set(), set()
    ids = sorted(traces)
    parents, run_spans = trace_graph(con, traces, stored)
    stand_ins = {
        r[0]: r[1]
        for listed, params in map(in_list, chunks(ids))
        for r in con.execute(
            f"SELECT id, trace_id FROM agent_runs WHERE trace_id IN ({listed}) "
            "AND NOT is_final AND metadata = ?",
            [*params, STAND_IN],
        ).fetchall()
    }
    real_runs = run_spans  # trace_graph leaves stand-ins out
    cut_runs = _cancelled_runs(con, ids)
    cut_ids = {w[2] for windows in cut_runs.values() for w in windows}
    steps = con.execute(
        "SELECT id, span_id, trace_id, agent_run_id, started_at, action_type FROM agent_steps "
        "WHERE trace_id IN (SELECT unnest(?)) "
        "AND (agent_run_id IS NULL OR agent_run_id IN (SELECT unnest(?))) "
        # A step known only by its live copy waits for its span (whose own parent may
        # still link it to its run, as AutoGen's agent span does when it ends).
        "AND is_final",
        [ids, sorted(stand_ins.keys() | cut_ids)],
    ).fetchall()
    moves: dict[str, str] = {}
    left: set[str] = set()  # runs a step moved away from
    wanted: dict[str, tuple[str, datetime | None, str | None]] = {}  # id -> trace, start, llm
    nearest = NearestRuns(parents, real_runs)
    # A stand-in is named after the missing span; another trace may own that id.
    owners = stored_run_owners(
        con,
        {
            m
            for _, span_id, trace_id, *_ in steps
            if nearest.of((trace_id, span_id))[0] is None
            and (m := nearest.top_missing((trace_id, span_id)))
        },
    )
    # Traces with a step placed in its cancelled run while a span between them is missing,
    # and the cancelled runs whose steps' spans now reach them: what the run derives from
    # its own spans (task, models) is read again once the missing span arrives.
    cut_waiting: set[str] = set()
    rechained: set[str] = set()
    for step_id, span_id, trace_id, current, started_at, action in steps:
        run_id, _ = nearest.of((trace_id, span_id))
        if current in cut_ids:  # read, never moved: it is in its run
            if run_id is None:
                cut_waiting.add(trace_id)
            elif run_id == current and _linked_by(parents, (trace_id, span_id), arrived):
                rechained.add(current)
            continue
        if run_id is None:
            missing = nearest.top_missing((trace_id, span_id))
            if missing is None:
                continue  # a whole chain with no run above: not an agent's step
            missing = owned_run_id(owners, missing, trace_id)
            run_id = _run_around(cut_runs.get(trace_id, []), started_at)
            if run_id is not None:
                cut_waiting.add(trace_id)
            else:
                run_id = missing
                _, first, first_llm = wanted.get(missing, (trace_id, started_at, None))
                if action == "think" and (
                    first_llm is None or (started_at or now) <= (first or now)
                ):
                    first_llm = span_id
                first = min(first or started_at or now, started_at or now)
                wanted[missing] = (trace_id, first, first_llm)
        if run_id != current:
            moves[step_id] = run_id
            if current is not None:
                left.add(current)
    _insert_stand_ins(con, wanted, now, arrived or {})
    if moves:
        set_by_id(con, "agent_steps", "agent_run_id", moves)
    # Only a stand-in a step moved away from can be left empty; only the runs a
    # step moved into or out of have new aggregates. (Refreshing every stand-in
    # of the trace made each request cost as much as the whole trace: a trace
    # whose steps' parents never arrive grew to seconds per request.)
    dropped = _drop_empty_stand_ins(con, left & stand_ins.keys())
    kept = {run_id: trace for run_id, trace in stand_ins.items() if run_id not in dropped}
    kept.update((run_id, trace) for run_id, (trace, _, _) in wanted.items())
    # What pending copies say of a stand-in's span: read when the stand-in is new, or when a
    # copy of its span arrives (reading it at every request costs as much as the trace).
    copied = {(s.trace_id, s.parent_span_id) for s in (arrived or {}).values() if is_pending(s)}
    _name_and_close_stand_ins(
        con,
        {
            r: t
            for r, t in kept.items()
            if r not in stand_ins or (t, _stand_in_span_id(r, t)) in copied
        },
    )
    traces_with_stand_ins = set(kept.values()) | cut_waiting
    return set(moves.values()) | (left - dropped) | rechained, traces_with_stand_ins


def _linked_by(
    parents: Mapping[tuple[str, str], tuple[str, str] | None],
    step: tuple[str, str],
    arrived: Mapping[tuple[str, str], SpanRecord] | None,
) -> bool:
    """Whether a span of this batch lies between the step and its run: the link that was
    missing when the step was placed has just arrived."""
    if not arrived:
        return False
    key, seen = parents.get(step), {step}
    while key is not None and key not in seen:
        if key in arrived:
            return True
        seen.add(key)
        key = parents.get(key)
    return False


# (started_at, completed_at, id) of a trace's cancelled runs.
_Window = tuple[datetime, datetime, str]


def _cancelled_runs(
    con: duckdb.DuckDBPyConnection, trace_ids: list[str]
) -> dict[str, list[_Window]]:
    """The finished ``cancelled`` runs of these traces, by trace."""
    found: dict[str, list[_Window]] = {}
    for listed, params in map(in_list, chunks(trace_ids)):
        for trace_id, started, completed, run_id in con.execute(
            "SELECT trace_id, started_at, completed_at, id FROM agent_runs "
            f"WHERE trace_id IN ({listed}) AND is_final AND status = ? "
            "AND started_at IS NOT NULL AND completed_at IS NOT NULL",
            [*params, RunStatus.CANCELLED],
        ).fetchall():
            found.setdefault(trace_id, []).append((started, completed, run_id))
    return found


def _run_around(runs: list[_Window], started_at: datetime | None) -> str | None:
    """The innermost (latest started) of ``runs`` that a step starting at ``started_at``
    started within, or None."""
    if started_at is None:
        return None
    inside = [w for w in runs if w[0] <= started_at <= w[1]]
    return max(inside)[2] if inside else None


# What the pending copies of stand-ins' spans say: an agent's name, and whether the
# process shut its tracing down with that span open (instrumentation/pending.py).
_STAND_IN_COPIES = f"""
    SELECT trace_id, parent_span_id,
        max(end_ns) FILTER (WHERE json_extract_string(attributes,
            '$."{A.PENDING_OPEN_AT_EXIT}"') = 'true') AS exit_ns,
        any_value(coalesce(
            json_extract_string(attributes, '$."{A.GEN_AI_AGENT_NAME}"'),
            json_extract_string(attributes, '$."{OI.AGENT_NAME}"'),
            CASE WHEN upper(json_extract_string(attributes, '$."{A.OPENINFERENCE_SPAN_KIND}"'))
                = 'AGENT' THEN name END)) AS agent_name,
        any_value(service_name) AS service_name,
        min(start_ns) AS start_ns
    FROM spans
    WHERE trace_id IN (SELECT unnest(?)) AND parent_span_id IN (SELECT unnest(?))
      AND json_extract_string(attributes, '$."{A.PENDING}"') = 'true'
    GROUP BY trace_id, parent_span_id
"""


# What a stand-in takes from its span's pending copies.
_COPIES_SCHEMA = ArrowSchema(
    AGENT_RUNS, only=("id", "completed_at", "agent_name", "service_name", "started_at")
)


def _name_and_close_stand_ins(con: duckdb.DuckDBPyConnection, stand_ins: Mapping[str, str]) -> None:
    """Give stand-ins (id -> trace) the agent name their span's pending copies tell; one
    whose span was still open when its process shut tracing down (Ctrl-C) was cut off
    there: ``cancelled``, not left to fall silent and become ``lost``."""
    if not stand_ins:
        return
    # A copy speaks for the stand-in of its own trace (span ids are unique only there).
    by_span = {(trace, _stand_in_span_id(r, trace)): r for r, trace in stand_ins.items()}
    found = [
        (by_span[(trace, span)], *rest)
        for trace, span, *rest in con.execute(
            _STAND_IN_COPIES,
            [sorted(set(stand_ins.values())), sorted({span for _, span in by_span})],
        ).fetchall()
        if (trace, span) in by_span
    ]
    if not found:
        return
    con.register(
        "_stand_in_copies",
        pa.table(
            {
                "id": [r[0] for r in found],
                "completed_at": [ns_to_datetime(r[1]) for r in found],
                "agent_name": [r[2] for r in found],
                "service_name": [r[3] for r in found],
                "started_at": [ns_to_datetime(r[4]) for r in found],
            },
            schema=_COPIES_SCHEMA.schema,
        ),
    )
    con.execute(
        "UPDATE agent_runs SET agent_name = coalesce(agent_runs.agent_name, c.agent_name), "
        "service_name = coalesce(agent_runs.service_name, c.service_name), "
        "started_at = least(agent_runs.started_at, c.started_at), "
        "status = CASE WHEN c.completed_at IS NULL THEN agent_runs.status ELSE $1 END, "
        "completed_at = coalesce(c.completed_at, agent_runs.completed_at) "
        "FROM _stand_in_copies c WHERE agent_runs.id = c.id AND NOT agent_runs.is_final "
        "AND agent_runs.metadata = $2 AND agent_runs.status IN ($3, $4, $1)",
        [RunStatus.CANCELLED, STAND_IN, RunStatus.RUNNING, RunStatus.LOST],
    )
    con.unregister("_stand_in_copies")
    fail_cut_runs_on_a_failed_step(con, [r[0] for r in found if r[1] is not None])


def fail_cut_runs_on_a_failed_step(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> None:
    """A run cut off at its process's exit whose last step failed failed (the failure ended
    the process), with that step's error; one cut in a step that went well stays
    ``cancelled``."""
    if not run_ids:
        return
    con.execute(
        f"""
        UPDATE agent_runs SET status = '{RunStatus.FAILED}', error = f.error
        FROM (
            SELECT agent_run_id, arg_max(error, started_at) AS error,
                   arg_max(status, started_at) AS last_status
            FROM agent_steps WHERE agent_run_id IN (SELECT unnest(?))
            GROUP BY agent_run_id
        ) f
        WHERE agent_runs.id = f.agent_run_id AND f.last_status = '{StepStatus.ERROR}'
          AND agent_runs.status = '{RunStatus.CANCELLED}' AND NOT agent_runs.is_final
        """,
        [run_ids],
    )


def _drop_empty_stand_ins(con: duckdb.DuckDBPyConnection, candidates: set[str]) -> set[str]:
    """Delete the stand-ins among ``candidates`` left with no step; return their ids.

    Each is read by its id or by its steps' ``agent_run_id``, through the indexes.
    """
    with_steps: set[str] = set()
    for listed, params in map(in_list, chunks(sorted(candidates))):
        with_steps.update(
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT agent_run_id FROM agent_steps WHERE agent_run_id IN ({listed})",
                params,
            ).fetchall()
        )
    empty = candidates - with_steps
    for listed, params in map(in_list, chunks(sorted(empty))):
        con.execute(
            f"DELETE FROM agent_runs WHERE id IN ({listed}) AND NOT is_final AND metadata = ?",
            [*params, STAND_IN],
        )
    return empty


# The columns a stand-in is made of (the rest are constants or left empty).
_STAND_IN_COLUMNS = ("id", "task", "started_at", "trace_id", "span_id")
_STAND_IN_SCHEMA = ArrowSchema(AGENT_RUNS, only=_STAND_IN_COLUMNS)


def _insert_stand_ins(
    con: duckdb.DuckDBPyConnection,
    wanted: Mapping[str, tuple[str, datetime | None, str | None]],
    now: datetime,
    arrived: Mapping[tuple[str, str], SpanRecord],
) -> None:
    """Create the stand-ins that do not exist yet; a real run row is never touched.

    One statement for all of them: a statement per stand-in cost milliseconds each,
    and a batch of a framework's steps names dozens of runs not yet arrived.
    """
    if not wanted:
        return
    rows: dict[str, list[Any]] = {name: [] for name in _STAND_IN_COLUMNS}
    for run_id, (trace_id, started_at, first_llm) in wanted.items():
        task = None
        if first_llm is not None:
            llm = arrived.get((trace_id, first_llm)) or _stored(con, trace_id, first_llm)
            if llm is not None:
                task = frameworks.stand_in_task(llm)
        span_id = _stand_in_span_id(run_id, trace_id)
        for name, value in zip(rows, (run_id, task, started_at, trace_id, span_id), strict=True):
            rows[name].append(value)
    con.register("_stand_ins", pa.table(rows, schema=_STAND_IN_SCHEMA.schema))
    con.execute(
        "INSERT INTO agent_runs (id, task, status, started_at, trace_id, span_id, metadata, "
        "updated_at, last_activity_at, is_final) "
        "SELECT id, task, $1, started_at, trace_id, span_id, $2, $3, $3, FALSE FROM _stand_ins "
        # Every call sees all the stand-in's steps so far: its earliest step and first model
        # call win whatever order the steps arrived in.
        "ON CONFLICT (id) DO UPDATE SET task = coalesce(excluded.task, agent_runs.task), "
        "started_at = least(agent_runs.started_at, excluded.started_at), "
        "last_activity_at = excluded.last_activity_at "
        "WHERE NOT agent_runs.is_final AND agent_runs.metadata = excluded.metadata",
        [RunStatus.RUNNING, STAND_IN, now],
    )
    con.unregister("_stand_ins")


def _stand_in_span_id(run_id: str, trace_id: str) -> str:
    """The missing span a stand-in is named after (scoped when another trace owns that id)."""
    return run_id.removesuffix(trace_scoped_id("", trace_id))


def _stored(con: duckdb.DuckDBPyConnection, trace_id: str, span_id: str) -> SpanRecord | None:
    row = con.execute(
        "SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, "
        "status_code, status_message, scope_name, scope_version, resource, attributes, "
        "events FROM spans WHERE trace_id = ? AND span_id = ?",
        [trace_id, span_id],
    ).fetchone()
    return stored_span(row) if row is not None else None


def load_rootless_traces(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Traces with steps under a stand-in run (read at start-up): their run span, or a
    span between it and the steps, may still arrive."""
    rows = con.execute(
        "SELECT DISTINCT trace_id FROM agent_runs "
        "WHERE NOT is_final AND metadata = ? AND trace_id IS NOT NULL",
        [STAND_IN],
    ).fetchall()
    return {r[0] for r in rows}


def settle_stand_ins(con: duckdb.DuckDBPyConnection, lost_ids: list[str]) -> None:
    """A stand-in the stall rule gave up on failed if one of its steps failed, with that
    step's error; otherwise it stays lost."""
    if not lost_ids:
        return
    con.execute(
        f"""
        UPDATE agent_runs SET status = '{RunStatus.FAILED}', error = f.error
        FROM (
            SELECT agent_run_id, arg_max(error, started_at) AS error FROM agent_steps
            WHERE status = '{StepStatus.ERROR}' AND agent_run_id IN (SELECT unnest(?))
            GROUP BY agent_run_id
        ) f
        WHERE agent_runs.id = f.agent_run_id AND agent_runs.metadata = ?
        """,
        [lost_ids, STAND_IN],
    )
