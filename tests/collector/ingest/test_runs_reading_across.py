"""The runs of a trace-reading rule re-derived when a span of their trace arrives: for a
rule saying how far above a run it reads (ADK: three links), only the runs above the span
and those close enough below it (collector/across_runs.py)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from collector.across_runs import runs_reading_across
from collector.decode import SpanRecord
from collector.ingest import IngestState, ingest_batch
from collector.rules import google_adk
from collector.run_links import StoredParents
from collector.schema import migrate
from instrumentation import attributes as A
from tests.records import span_record

_TRACE = "cd" * 16
_SCOPE = "gcp.vertex.agent"


def _span(span_id: str, parent: str | None, name: str, **attributes: object) -> SpanRecord:
    return span_record(span_id, name=name, parent_span_id=parent, attributes=dict(attributes),
                       trace_id=_TRACE, kind=0, scope_name=_SCOPE)  # fmt: skip


def _agent(span_id: str, parent: str | None) -> SpanRecord:
    return _span(span_id, parent, "invoke_agent a", **{A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT})


# Two agents side by side; below the first, an AgentTool's: model call -> tool ->
# invocation -> agent (three links below the model call), and below that agent one more.
SIDE, TOP, CALL, TOOL, INVOCATION, CHILD, GRANDCHILD = (f"{n:016x}" for n in range(1, 8))
SPANS = [
    _agent(SIDE, None),
    _agent(TOP, None),
    _span(CALL, TOP, "generate_content m", **{A.GEN_AI_OPERATION_NAME: "generate_content"}),
    _span(TOOL, CALL, "execute_tool a", **{A.GEN_AI_OPERATION_NAME: "execute_tool"}),
    _span(INVOCATION, TOOL, "invoke_workflow a", **{A.GEN_AI_OPERATION_NAME: "invoke_workflow"}),
    _agent(CHILD, INVOCATION),
    _span("a" * 16, CHILD, "invoke_workflow b", **{A.GEN_AI_OPERATION_NAME: "invoke_workflow"}),
    _agent(GRANDCHILD, "a" * 16),
]


def _reached(arriving: str) -> set[str]:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    migrate(con)
    con.execute("BEGIN TRANSACTION")
    ingest_batch(con, SPANS, IngestState(), datetime(2026, 12, 7, 10, 0))
    span = next(s for s in SPANS if s.span_id == arriving)
    run_ids = runs_reading_across(con, [span], StoredParents(con))
    spans = dict(con.execute("SELECT id, span_id FROM agent_runs").fetchall())
    con.execute("COMMIT")
    return {spans[run_id] for run_id in run_ids}


def test_a_model_call_reaches_its_runs_and_the_agent_tool_s_agent_below() -> None:
    assert google_adk.READS_ABOVE_RUN == 3
    # The runs it is below, and the agent it is three links above (whose task its
    # function call may tell); not the agent further down, nor the agent beside.
    assert _reached(CALL) == {TOP, CHILD}


def test_a_span_deep_in_the_trace_reaches_every_run_above_it() -> None:
    assert _reached(GRANDCHILD) == {GRANDCHILD, CHILD, TOP}
    assert _reached(SIDE) == {SIDE}
