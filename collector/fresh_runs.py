"""Step numbers and run aggregates of runs that are wholly in one batch, computed in Python.

After every insert the writer renumbers each touched run's steps and recomputes
its aggregates in SQL (two UPDATEs over the runs' stored steps). A run the store
has never seen a step of, whose steps are all new and whose run row is new or
still to come, needs no stored data for either: its steps are exactly the
batch's. Those rows go in already numbered and aggregated, with the meaning
of the UPDATEs (``refresh_runs`` in collector/ingest.py), and the UPDATEs skip
them. A run that a later part of the same transaction touches again (steps
adopted from an orphaned trace) goes through the UPDATEs as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from collector.id_lists import chunks, in_list
from collector.mapping import RunRow, StepRow

__all__ = ["FreshRuns", "fresh_runs"]


@dataclass(frozen=True)
class FreshRuns:
    """What the batch alone decides for its fresh runs."""

    run_ids: frozenset[str]
    step_numbers: dict[str, int]  # step id -> 1-based position in its run
    runs: dict[str, RunRow]  # run id -> its row with the aggregates applied
    aggregates: dict[str, tuple[int, list[str] | None]]  # run id -> (total_steps, tool_names)


def fresh_runs(
    con: duckdb.DuckDBPyConnection,
    runs: list[RunRow],
    steps: list[StepRow],
    stored_runs: set[str],
    stored_steps: set[str],
    run_rows_known: Mapping[str, bool] | None = None,
    run_steps_known: Mapping[str, bool] | None = None,
) -> FreshRuns:
    """The runs of ``steps`` and ``runs`` whose every step is in ``steps``, and their values.

    ``stored_runs`` and ``stored_steps`` are the ids of ``runs`` and ``steps``
    already in the store (looked up by the caller before inserting).
    ``run_rows_known`` / ``run_steps_known``: run ids the caller already looked
    up in ``agent_runs`` / in ``agent_steps``' run column, and whether they are
    there (collector/trace_owned_ids.py); only the others are looked up here.
    """
    steps_of: dict[str, list[StepRow]] = defaultdict(list)
    touched_stored: set[str] = set()
    for step in steps:
        if step.agent_run_id is None:
            continue
        steps_of[step.agent_run_id].append(step)
        if step.id in stored_steps:
            touched_stored.add(step.agent_run_id)
    in_batch = {r.id for r in runs}
    candidates = (set(steps_of) | in_batch) - stored_runs - touched_stored
    # A run row stored earlier (e.g. its pending copy) needs its aggregates updated.
    candidates -= _stored(con, "agent_runs", "id", candidates - in_batch, run_rows_known)
    candidates -= _stored(con, "agent_steps", "agent_run_id", candidates, run_steps_known)
    numbers: dict[str, int] = {}
    rows: dict[str, RunRow] = {}
    aggregates: dict[str, tuple[int, list[str] | None]] = {}
    for run_id in candidates:
        ordered = sorted(steps_of.get(run_id, ()), key=_start_order)
        for number, step in enumerate(ordered, start=1):
            numbers[step.id] = number
        if ordered:
            aggregates[run_id] = (len(ordered), _tool_names(ordered))
    for run in runs:
        if run.id in candidates and run.id in aggregates:
            rows[run.id] = _aggregated(run, steps_of[run.id])
    return FreshRuns(frozenset(candidates), numbers, rows, aggregates)


def _stored(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    ids: Iterable[str],
    known: Mapping[str, bool] | None = None,
) -> set[str]:
    """Which of ``ids`` ``table`` holds in ``column``, by that column's index; ids in
    ``known`` are answered from it (looked up earlier in the same transaction)."""
    found: set[str] = set()
    unknown: list[str] = []
    for row_id in ids:
        held = known.get(row_id) if known is not None else None
        if held is None:
            unknown.append(row_id)
        elif held:
            found.add(row_id)
    for listed, params in map(in_list, chunks(sorted(unknown))):
        found.update(
            str(row[0])
            for row in con.execute(
                f"SELECT DISTINCT {column} FROM {table} WHERE {column} IN ({listed})", params
            ).fetchall()
        )
    return found


def _start_order(step: StepRow) -> tuple[bool, datetime, bool, float, str]:
    """``ORDER BY started_at NULLS LAST, duration_ms NULLS LAST, id`` (ingest.py's
    _RENUMBER_STEPS; both compare text by code point)."""
    started: datetime | None = step.started_at
    duration: float | None = step.duration_ms
    return (started is None, started or datetime.min, duration is None, duration or 0.0, step.id)


def _tool_names(steps: list[StepRow]) -> list[str] | None:
    """``list_sort(list(DISTINCT tool_name) FILTER (WHERE tool_name IS NOT NULL))``."""
    names = {s.tool_name for s in steps if s.tool_name is not None}
    return sorted(names) if names else None


def _aggregated(run: RunRow, steps: list[StepRow]) -> RunRow:
    """``run`` with the step aggregates ``refresh_runs`` would set."""
    values: dict[str, Any] = {name: getattr(run, name) for name in run.__slots__}
    for column in ("input_tokens", "output_tokens"):
        counted = [getattr(s, column) for s in steps if getattr(s, column) is not None]
        if counted:
            values[column] = max(values[column] or 0, sum(counted))
    if values["model_used"] is None:
        # arg_max(model, started_at) over steps naming a model and a start.
        timed = [s for s in steps if s.model is not None and s.started_at is not None]
        if timed:
            values["model_used"] = max(timed, key=lambda s: s.started_at).model
    return type(run)(**values)
