"""A run or step id belongs to the trace that used it first; other traces get their own.

Run and step ids come from what a span says: ``agent_run.id``, or the span id
(OpenTelemetry makes a span id unique only within its trace). Rows were upserted
by that id alone, so a span of another trace re-using it rewrote a stored run or
step: a request naming a finished run's ``agent_run.id`` replaced its task and
answer and added steps to it, and a request re-using a step's span id replaced
its tool result. Two senders whose span ids collide (deterministic id
generators) overwrote each other's runs.

Now an id is owned by the first trace that used it (stored rows first, then the
batch in arrival order, which is the order a re-derivation replays), and rows of
any other trace that name it get ``<id>@<their trace id>``: every span is kept
and shown, as its own run or step, and no trace can change another's rows.

An id of that scoped form belongs to the trace it names, whoever sends it: a span of
trace S whose ``agent_run.id`` (or pending copy's span id) is ``X@<trace T>`` gets
``X@<T>@<S>``. Otherwise a sender could take, before T's own rows arrive, the id T's
re-used ``X`` is given, and T's run would be written into the sender's row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import duckdb

from collector.id_lists import chunks, in_list
from collector.mapping import RunRow, StepRow

__all__ = [
    "OWNED_ID_SEPARATOR",
    "StoredIds",
    "trace_scoped_id",
    "keep_ids_in_their_trace",
    "named_trace",
    "owned_run_id",
    "stored_run_owners",
]

OWNED_ID_SEPARATOR = "@"


def trace_scoped_id(row_id: str, trace_id: str) -> str:
    """The id a row of ``trace_id`` gets when another trace owns ``row_id``."""
    return f"{row_id}{OWNED_ID_SEPARATOR}{trace_id}"


def _owners(con: duckdb.DuckDBPyConnection, sql: str, ids: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in chunks(sorted(set(ids))):
        listed, params = in_list(chunk)
        for row_id, trace_id in con.execute(sql.format(listed=listed), params).fetchall():
            found.setdefault(str(row_id), str(trace_id))
    return found


@dataclass(frozen=True)
class StoredIds:
    """The ids, as scoped, of the batch's runs and steps that the tables already hold."""

    runs: set[str]
    steps: set[str]
    # What the lookups told of run ids as named (before scoping), so that later
    # questions about the same ids in the transaction need no statement of their
    # own: whether ``agent_runs`` holds each, and, for those it does not hold,
    # whether ``agent_steps`` holds a step of it (collector/fresh_runs.py).
    run_rows_known: dict[str, bool] = field(default_factory=dict)
    run_steps_known: dict[str, bool] = field(default_factory=dict)


def stored_run_owners(con: duckdb.DuckDBPyConnection, ids: set[str]) -> dict[str, str]:
    """The trace owning each of ``ids`` already used by a stored run or step."""
    owners = _owners(con, _RUNS_BY_ID, ids)
    unseen = ids - owners.keys()
    if unseen:
        owners.update(_run_owners_by_steps(con, unseen))
    return owners


# The scoped form's tail: the separator and a trace id (as stored: 32 lowercase hex).
_NAMED_TRACE = re.compile(re.escape(OWNED_ID_SEPARATOR) + r"([0-9a-f]{32})\Z")


def named_trace(row_id: str) -> str | None:
    """The trace an id of the scoped form ``<id>@<trace id>`` names, or None."""
    found = _NAMED_TRACE.search(row_id)
    return found.group(1) if found else None


def owned_run_id(owners: dict[str, str], run_id: str, trace_id: str) -> str:
    """``run_id`` for a row of ``trace_id``, given the ids' owners (an id of the scoped
    form is owned by the trace it names)."""
    owner = named_trace(run_id) or owners.get(run_id, trace_id)
    return run_id if owner == trace_id else trace_scoped_id(run_id, trace_id)


def _run_owners_by_steps(con: duckdb.DuckDBPyConnection, ids: set[str]) -> dict[str, str]:
    # Steps can name their run before its span arrives: they claim the id for their trace.
    return _owners(
        con,
        "SELECT agent_run_id, min(trace_id) FROM agent_steps "
        "WHERE agent_run_id IN ({listed}) GROUP BY agent_run_id",
        ids,
    )


def keep_ids_in_their_trace(
    con: duckdb.DuckDBPyConnection, rows: Sequence[RunRow | StepRow]
) -> StoredIds:
    """Give each row of ``rows`` (runs and steps in arrival order) ids its trace owns.

    Changes ``id``, ``agent_run_id`` and ``parent_run_id`` in place where another
    trace owns the id; rows whose trace owns its ids (all, but for a collision or
    a forgery) are left as they are. Returns which of the rows' ids are stored
    already (the same lookups tell both).
    """
    runs = [r for r in rows if isinstance(r, RunRow)]
    steps = [r for r in rows if isinstance(r, StepRow)]
    run_ids = {r.id for r in runs}
    run_ids.update(r.parent_run_id for r in runs if r.parent_run_id)
    run_ids.update(s.agent_run_id for s in steps if s.agent_run_id)
    run_rows = _owners(con, _RUNS_BY_ID, run_ids)
    step_rows = _owners(con, _STEPS_BY_ID, (s.id for s in steps))
    run_owner = dict(run_rows)
    unseen = run_ids - run_owner.keys()
    by_steps = _run_owners_by_steps(con, unseen) if unseen else {}
    run_owner.update(by_steps)
    step_owner = dict(step_rows)
    # The batch claims what is not stored yet, in arrival order.
    for row in rows:
        if isinstance(row, RunRow):
            run_owner.setdefault(row.id, row.trace_id)
        else:
            step_owner.setdefault(row.id, row.trace_id)
            if row.agent_run_id:
                run_owner.setdefault(row.agent_run_id, row.trace_id)

    scoped = owned_run_id  # the same rule for step ids
    stored_runs: set[str] = set()
    stored_steps: set[str] = set()
    scoped_runs: set[str] = set()
    scoped_steps: set[str] = set()
    for run in runs:
        own = scoped(run_owner, run.id, run.trace_id)
        if own != run.id:
            run.id = own
            scoped_runs.add(own)
        elif own in run_rows:
            stored_runs.add(own)
        if run.parent_run_id:
            run.parent_run_id = scoped(run_owner, run.parent_run_id, run.trace_id)
    for step in steps:
        own = scoped(step_owner, step.id, step.trace_id)
        if own != step.id:
            step.id = own
            scoped_steps.add(own)
        elif own in step_rows:
            stored_steps.add(own)
        if step.agent_run_id:
            step.agent_run_id = scoped(run_owner, step.agent_run_id, step.trace_id)
    # Whether a scoped id is stored (an earlier request of its trace) needs a lookup.
    if scoped_runs:
        stored_runs.update(_owners(con, _RUNS_BY_ID, scoped_runs))
    if scoped_steps:
        stored_steps.update(_owners(con, _STEPS_BY_ID, scoped_steps))
    return StoredIds(
        stored_runs,
        stored_steps,
        run_rows_known={i: i in run_rows for i in run_ids},
        run_steps_known={i: i in by_steps for i in unseen},
    )


_RUNS_BY_ID = "SELECT id, trace_id FROM agent_runs WHERE id IN ({listed})"
_STEPS_BY_ID = "SELECT id, trace_id FROM agent_steps WHERE id IN ({listed})"
