"""Runs wholly in one batch go in numbered and aggregated, as the SQL refresh would leave them.

The reference is the writer's own SQL (``refresh_runs``): after every commit,
running it over every run must change nothing, however a run's spans were
split between requests (steps before their run, the run before its steps, a
run spread over two requests) and whatever its steps lack (a start time, a
model, a tool name, token counts).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from bench.workload import WorkloadSpec, generate_requests
from collector.db_open import open_database
from collector.decode import SpanRecord, decode_protobuf
from collector.ingest import IngestState, ingest_batch, refresh_runs
from collector.mapping import SpanClass, classify
from collector.schema import migrate
from instrumentation import attributes as A
from tests.records import span_record

_T0 = datetime(2026, 12, 6, 12, 0, 0)
_STEPS = 6


def _spans() -> list[SpanRecord]:
    """Eight runs, some with token counts of their own or no model; some steps
    without a start, a model or tokens, some starting with the step before."""
    spec = WorkloadSpec(runs=8, steps=_STEPS, runs_per_request=8, seed=11)
    (request,) = list(generate_requests(spec))
    spans = decode_protobuf(request.body).spans
    varied: list[SpanRecord] = []
    runs_seen = 0
    for n, span in enumerate(spans):
        if classify(span) is SpanClass.RUN:
            runs_seen += 1
            if runs_seen % 3 == 1:  # counts of its own, above its steps' sum
                tokens = {A.GEN_AI_USAGE_INPUT_TOKENS: 10**6, A.GEN_AI_USAGE_OUTPUT_TOKENS: 1}
                span = dataclasses.replace(span, attributes={**span.attributes, **tokens})
            if runs_seen % 3 == 2:  # no model: the last step's that names one
                span = _without(span, {A.GEN_AI_REQUEST_MODEL, A.GEN_AI_RESPONSE_MODEL})
        else:
            if n % 5 == 1:
                span = dataclasses.replace(span, start_ns=0)
            if n % 3 == 0:  # models differ within a run: the last one started is the run's
                model = {A.GEN_AI_REQUEST_MODEL: f"m{n}", A.GEN_AI_RESPONSE_MODEL: f"m{n}"}
                span = dataclasses.replace(span, attributes={**span.attributes, **model})
            if n % 7 == 2:
                drop = {A.GEN_AI_REQUEST_MODEL, A.GEN_AI_RESPONSE_MODEL}
                span = _without(span, drop)
            if n % 4 == 3:
                span = _without(span, {A.GEN_AI_USAGE_INPUT_TOKENS, A.GEN_AI_USAGE_OUTPUT_TOKENS})
            if n % 6 == 4 and varied and varied[-1].start_ns:  # started with the step before
                span = dataclasses.replace(span, start_ns=varied[-1].start_ns)
        varied.append(span)
    return varied


def _without(span: SpanRecord, keys: set[str]) -> SpanRecord:
    return dataclasses.replace(
        span, attributes={k: v for k, v in span.attributes.items() if k not in keys}
    )


def _is_run(span: SpanRecord) -> bool:
    return classify(span) is SpanClass.RUN


def _split(spans: list[SpanRecord], how: str) -> list[list[SpanRecord]]:
    runs = [s for s in spans if _is_run(s)]
    steps = [s for s in spans if not _is_run(s)]
    if how == "whole":
        return [spans]
    if how == "steps_first":
        return [steps, runs]
    if how == "run_first":
        return [runs, steps]
    if how == "spread":  # each run with half its steps, then the other half
        return [runs + steps[::2], steps[1::2]]
    raise AssertionError(how)


def _tables(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[object, ...]], ...]:
    return (
        con.execute("SELECT * FROM agent_runs ORDER BY id").fetchall(),
        con.execute("SELECT * FROM agent_steps ORDER BY id").fetchall(),
    )


def _ingest(path: Path, batches: list[list[SpanRecord]]) -> dict[str, list[tuple[object, ...]]]:
    """Commit ``batches`` one by one; check the SQL refresh changes nothing after each."""
    con = open_database(path)
    migrate(con)
    state = IngestState()
    for n, batch in enumerate(batches):
        con.execute("BEGIN")
        ingest_batch(con, batch, state, _T0)  # one clock: updated_at is the same in every way
        con.execute("COMMIT")
        before = _tables(con)
        con.execute("BEGIN")
        run_ids = {str(r[0]) for r in con.execute("SELECT id FROM agent_runs").fetchall()}
        refresh_runs(con, run_ids, _T0)
        after = _tables(con)
        con.execute("ROLLBACK")
        assert after == before, f"batch {n}: the SQL refresh changed rows"
    runs, steps = _tables(con)
    counted = con.execute(
        "SELECT total_steps, len(tool_names) FROM agent_runs ORDER BY id"
    ).fetchall()
    numbers = con.execute(
        "SELECT list(step_number ORDER BY step_number) FROM agent_steps GROUP BY agent_run_id"
    ).fetchall()
    con.close()
    return {"runs": runs, "steps": steps, "counted": counted, "numbers": numbers}


@pytest.mark.parametrize("how", ["whole", "steps_first", "spread"])
def test_runs_come_out_as_the_sql_refresh_makes_them(tmp_path: Path, how: str) -> None:
    spans = _spans()
    # Run rows first, steps in a later commit: every run goes through the SQL refresh.
    reference = _ingest(tmp_path / "reference.duckdb", _split(spans, "run_first"))
    assert [c[0] for c in reference["counted"]] == [_STEPS] * 8
    assert all(c[1] for c in reference["counted"])  # every run called a tool
    assert reference["numbers"] == [(list(range(1, _STEPS + 1)),)] * 8
    tables = _ingest(tmp_path / f"{how}.duckdb", _split(spans, how))
    assert tables["runs"] == reference["runs"]
    assert tables["steps"] == reference["steps"]


_MS = 1_000_000  # JavaScript's SDKs tell time in milliseconds
_CHAT = {A.GEN_AI_OPERATION_NAME: "chat", A.GEN_AI_REQUEST_MODEL: "qwen"}


def _ms_clock_run() -> list[SpanRecord]:
    """A run timed to the millisecond: a model call, a tool that took under one, and the
    model call sent its result, which starts in the tool's millisecond. The second call's
    id sorts before the tool's, so an order by id alone puts it first."""
    run = span_record(
        "a" * 16,
        name="invoke_agent helper",
        attributes={A.GEN_AI_OPERATION_NAME: "invoke_agent", A.GEN_AI_AGENT_NAME: "helper"},
        start_ns=1_000 * _MS,
        end_ns=1_300 * _MS,
    )
    steps = [
        ("5" * 16, "chat qwen", _CHAT, 1_000, 1_100),
        ("f" * 16, "execute_tool ps", {A.GEN_AI_OPERATION_NAME: "execute_tool"}, 1_100, 1_100),
        ("1" * 16, "chat qwen", _CHAT, 1_100, 1_300),
    ]
    return [run] + [
        span_record(
            span_id,
            name=name,
            parent_span_id=run.span_id,
            attributes=attributes,
            start_ns=start * _MS,
            end_ns=end * _MS,
        )
        for span_id, name, attributes, start, end in steps
    ]


@pytest.mark.parametrize("how", ["whole", "run_first", "steps_first"])
def test_steps_that_started_in_one_millisecond_come_in_the_order_they_ended(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / f"{how}.duckdb"
    _ingest(path, _split(_ms_clock_run(), how))
    con = duckdb.connect(str(path), read_only=True)
    try:
        order = con.execute("SELECT span_id FROM agent_steps ORDER BY step_number").fetchall()
    finally:
        con.close()
    assert [row[0] for row in order] == ["5" * 16, "f" * 16, "1" * 16]
