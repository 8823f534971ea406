"""Reads of a trace's stored spans are bounded by when the trace began (trace_arrivals).

Other frameworks send a run's steps before its run span, with no ``agent_run.id``:
placing the steps then reads the trace's stored spans, only those received since
the trace's first span. Every span must still be found when the clock went back
between requests, and in a file written before the bound existed.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from bench.workload import WorkloadSpec, generate_requests
from collector.db_open import open_database
from collector.decode import SpanRecord, decode_protobuf
from collector.ingest import IngestState, ingest_batch
from collector.mapping import SpanClass, classify
from collector.schema import migrate
from collector.store import RunStore
from instrumentation import attributes as A

_T0 = datetime(2026, 12, 6, 12, 0, 0)


def _foreign_run(steps: int, seed: int = 1) -> tuple[list[SpanRecord], list[SpanRecord]]:
    """A run as another framework sends it: no ``agent_run.id``, its steps first.

    Returns the spans sent last (the run span and a span between it and the
    steps, both ending after the steps) and the steps. Steps stored before their
    run wait under a stand-in for that middle span, and move to the run only if
    their stored spans are found when it arrives.
    """
    spec = WorkloadSpec(runs=1, steps=steps, runs_per_request=1, seed=seed)
    (request,) = list(generate_requests(spec))
    spans = [
        dataclasses.replace(s, attributes={k: v for k, v in s.attributes.items() if k != A.RUN_ID})
        for s in decode_protobuf(request.body).spans
    ]
    (run,) = [s for s in spans if classify(s) is SpanClass.RUN]
    middle = dataclasses.replace(
        run, span_id=f"{seed:016x}", parent_span_id=run.span_id, name="turn", attributes={}
    )
    children = [
        dataclasses.replace(s, parent_span_id=middle.span_id) for s in spans if s is not run
    ]
    return [run, middle], children


def _commit(
    con: duckdb.DuckDBPyConnection, state: IngestState, spans: list[SpanRecord], now: datetime
) -> None:
    con.execute("BEGIN")
    ingest_batch(con, spans, state, now)
    con.execute("COMMIT")


def _steps_by_run(con: duckdb.DuckDBPyConnection) -> dict[str | None, int]:
    rows = con.execute("SELECT agent_run_id, count(*) FROM agent_steps GROUP BY 1").fetchall()
    return {run_id: count for run_id, count in rows}


def _steps_when_whole(
    tmp_path: Path, *runs: tuple[list[SpanRecord], list[SpanRecord]]
) -> dict[str | None, int]:
    """Steps per run when each run arrives whole, in one commit: what every order must give."""
    con = open_database(tmp_path / "whole.duckdb")
    migrate(con)
    _commit(con, IngestState(), [s for last, steps in runs for s in (*last, *steps)], _T0)
    expected = _steps_by_run(con)
    con.close()
    assert expected and None not in expected
    return expected


def test_steps_stored_while_the_clock_was_behind_still_join_their_run(tmp_path: Path) -> None:
    run, steps = _foreign_run(steps=4)
    con = open_database(tmp_path / "clock.duckdb")
    migrate(con)
    state = IngestState()
    _commit(con, state, steps[:2], _T0)
    # The clock is set back an hour: these spans are received "before" the first ones.
    _commit(con, state, steps[2:], _T0 - timedelta(hours=1))
    bound = con.execute("SELECT first_received_at FROM trace_arrivals").fetchall()
    assert bound == [(_T0 - timedelta(hours=1),)]
    _commit(con, state, run, _T0 - timedelta(minutes=30))
    assert _steps_by_run(con) == _steps_when_whole(tmp_path, (run, steps))
    con.close()


def test_a_file_from_before_the_bound_gets_it_at_the_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "older.duckdb"
    run, steps = _foreign_run(steps=3)
    expected = _steps_when_whole(tmp_path, (run, steps))
    store = RunStore(db, startup_read_check=False, journal=False)
    try:
        store.write_spans(steps)
    finally:
        store.close()
    with duckdb.connect(str(db)) as con:  # as the version before wrote it
        con.execute("DROP INDEX agent_runs_trace_id")
        con.execute("DROP TABLE trace_arrivals")
        con.execute("DELETE FROM schema_version WHERE version >= 8")
    store = RunStore(db, startup_read_check=False, journal=False)
    try:
        store.write_spans(run)
    finally:
        store.close()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM trace_arrivals").fetchall() == [(1,)]
        assert _steps_by_run(con) == expected


def test_traces_begun_hours_apart_are_each_read_whole(tmp_path: Path) -> None:
    """One commit placing steps of a trace begun long ago and of one begun now."""
    old_run, old_steps = _foreign_run(steps=2, seed=1)
    new_run, new_steps = _foreign_run(steps=2, seed=2)
    assert old_run[0].trace_id != new_run[0].trace_id
    con = open_database(tmp_path / "apart.duckdb")
    migrate(con)
    state = IngestState()
    _commit(con, state, old_steps, _T0 - timedelta(days=2))
    _commit(con, state, new_steps, _T0)
    _commit(con, state, [*old_run, *new_run], _T0 + timedelta(seconds=1))
    expected = _steps_when_whole(tmp_path, (old_run, old_steps), (new_run, new_steps))
    assert _steps_by_run(con) == expected and len(expected) == 2
    con.close()


def test_steps_under_a_stand_in_join_their_run_after_a_restart(tmp_path: Path) -> None:
    """The writer's list of traces with stand-ins is read back from the file at start."""
    db = tmp_path / "restart.duckdb"
    run, steps = _foreign_run(steps=3)
    expected = _steps_when_whole(tmp_path, (run, steps))
    for spans in (steps, run):  # a collector start each
        store = RunStore(db, startup_read_check=False, journal=False)
        try:
            store.write_spans(spans)
        finally:
            store.close()
    with duckdb.connect(str(db), read_only=True) as con:
        assert _steps_by_run(con) == expected
        stand_ins = con.execute("SELECT count(*) FROM agent_runs WHERE NOT is_final").fetchall()
        assert stand_ins == [(0,)]
