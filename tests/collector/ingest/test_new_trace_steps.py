"""Steps of a trace the store has never seen are written without looking their ids up.

The writer's first try of a commit takes every span as new; the steps of a trace
no span of which is stored yet are then taken as new too, and their ids are not
looked up (collector/trace_owned_ids.py). A step id stored already (another
trace's span id reused: a collision or a forgery) must still end as its own
step, under its trace's scoped id, with the other trace's step unchanged: the
plain INSERT fails on the primary key and the writer commits again with every
lookup.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb

from bench.workload import WorkloadSpec, generate_requests
from collector.decode import SpanRecord, decode_protobuf
from collector.mapping import SpanClass, classify
from collector.store import RunStore
from collector.trace_owned_ids import trace_scoped_id
from instrumentation import attributes as A


def _run(seed: int) -> list[SpanRecord]:
    spec = WorkloadSpec(runs=1, steps=3, runs_per_request=1, seed=seed)
    (request,) = list(generate_requests(spec))
    return decode_protobuf(request.body).spans


def _steps(spans: list[SpanRecord]) -> list[SpanRecord]:
    return [s for s in spans if classify(s) not in (SpanClass.RUN, SpanClass.OTHER)]


def _result(span: SpanRecord) -> object:
    return span.attributes.get(A.GEN_AI_TOOL_CALL_RESULT)


def _step_rows(db: Path) -> dict[str, tuple[str, str | None]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT id, trace_id, tool_result FROM agent_steps").fetchall()
    return {row_id: (trace_id, result) for row_id, trace_id, result in rows}


def test_a_new_trace_reusing_a_stored_step_id_gets_its_own_step(tmp_path: Path) -> None:
    first, second = _run(seed=1), _run(seed=2)
    assert first[0].trace_id != second[0].trace_id
    (original, *_) = [s for s in first if classify(s) is SpanClass.TOOL]
    (taken, *_) = [s for s in second if classify(s) is SpanClass.TOOL]
    reused = original.span_id
    assert _result(original) != _result(taken)
    # The second trace's first step carries the span id of the first trace's first step.
    second = [
        dataclasses.replace(s, span_id=reused)
        if s is taken
        else dataclasses.replace(s, parent_span_id=reused)
        if s.parent_span_id == taken.span_id
        else s
        for s in second
    ]
    db = tmp_path / "audit.duckdb"
    store = RunStore(db, startup_read_check=False, journal=False)
    try:
        store.write_spans(first)
        store.write_spans(second)
        retries = store.conflict_retries
    finally:
        store.close()
    steps = _step_rows(db)
    trace_one, trace_two = first[0].trace_id, second[0].trace_id
    # The first trace keeps its step as it was ...
    assert steps[reused] == (trace_one, _result(original))
    # ... and the second trace's step is its own, under the scoped id.
    scoped = trace_scoped_id(reused, trace_two)
    assert steps[scoped] == (trace_two, _result(taken))
    assert len(steps) == len(_steps(first)) + len(_steps(second))
    # The reused id was found by the primary key, and the commit made again with lookups.
    assert retries == 1
