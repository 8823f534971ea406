"""ADK 1.10's ParallelAgent branches' spans put back in their branch (collector/adk_branches.py),
on the shapes SPANS.md records (the last test through the real collector, in an order the
real ParallelAgent can send); test_orchestration.py plays the real ParallelAgent."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from collector.adk_branches import AdkSpan, corrected_parents
from tests.conftest import start_test_collector
from tests.frameworks.teams import derived_rows, rederived_rows
from tests.support import wait_until

PARALLEL, NORTH, SOUTH = "p" * 16, "n" * 16, "s" * 16
RUNS: dict[str, tuple[str, str | None]] = {
    PARALLEL: ("agent_run [fan_out]", None),
    NORTH: ("agent_run [north_agent]", PARALLEL),
    SOUTH: ("agent_run [south_agent]", PARALLEL),
}


def _call(span_id: str, parent: str, agent: str, asks: list[str]) -> AdkSpan:
    instruction = f'You are {agent}.\n\nYou are an agent. Your internal name is "{agent}".'
    parts = [{"function_call": {"id": i, "name": "get_weather", "args": {}}} for i in asks]
    attributes = {
        "gcp.vertex.agent.llm_request": json.dumps({"config": {"system_instruction": instruction}}),
        "gcp.vertex.agent.llm_response": json.dumps({"content": {"parts": parts}}),
    }
    return AdkSpan(span_id, parent, "call_llm", attributes)


def _tool(span_id: str, parent: str, call_id: str) -> AdkSpan:
    return AdkSpan(span_id, parent, "execute_tool get_weather", {"gen_ai.tool.call.id": call_id})


def test_a_branch_s_later_calls_and_its_tools_go_back_under_the_branch() -> None:
    spans = [
        _call("1" * 16, NORTH, "north_agent", ["call_n"]),  # first calls: in their branch
        _call("2" * 16, SOUTH, "south_agent", ["call_s"]),
        _tool("3" * 16, PARALLEL, "call_n"),  # ADK lost the context: under the ParallelAgent
        _tool("4" * 16, PARALLEL, "call_s"),
        _call("5" * 16, PARALLEL, "north_agent", []),
        _call("6" * 16, PARALLEL, "south_agent", []),
    ]
    assert corrected_parents(spans, RUNS) == {
        "3" * 16: "1" * 16,  # under the model call that asked for it
        "4" * 16: "2" * 16,
        "5" * 16: NORTH,  # under the agent it names
        "6" * 16: SOUTH,
    }
    # Before the branches' runs arrived (a run span ends after its calls) nothing tells
    # where the agents' runs are; a tool call still goes under the model call that asked.
    assert corrected_parents(spans, {PARALLEL: RUNS[PARALLEL]}) == {
        "3" * 16: "1" * 16,
        "4" * 16: "2" * 16,
    }


def test_spans_in_place_and_ambiguous_calls_stay_where_they_are() -> None:
    single = "a" * 16
    spans = [
        _call("1" * 16, single, "weather_agent", ["call_0"]),
        _tool("2" * 16, "1" * 16, "call_0"),  # where ADK puts a tool
        _call("3" * 16, single, "weather_agent", []),
        _call("4" * 16, NORTH, "north_agent", ["dup"]),
        _call("5" * 16, SOUTH, "south_agent", ["dup"]),
        _tool("6" * 16, PARALLEL, "dup"),  # two model calls asked for this id: not moved
        _call("7" * 16, NORTH, "no_such_agent", []),  # an agent with no span of its own
    ]
    runs = {**RUNS, single: ("agent_run [weather_agent]", None)}
    assert corrected_parents(spans, runs) == {}


def test_a_tool_naming_its_agent_is_not_moved_under_another_agent_s_call() -> None:
    """Models reuse call ids (``call_0_0``) across agents: an AgentTool's agent asks its own
    tool with the id its caller asked for it. Before the caller's model call is stored, the
    other agent's call is the only one asking for that id; the tool names its agent, so it
    stays where ADK put it, whichever of the calls arrived."""
    top, middle = "t" * 16, "m" * 16
    agent_tool = AdkSpan(
        "1" * 16,
        top,
        "execute_tool middle_agent",
        {"gen_ai.tool.call.id": "call_0_0", "gen_ai.agent.name": "top_agent"},
    )
    middle_call = _call("2" * 16, middle, "middle_agent", ["call_0_0"])
    top_call = _call("3" * 16, top, "top_agent", ["call_0_0"])
    assert corrected_parents([agent_tool, middle_call], {}) == {}
    assert corrected_parents([agent_tool, middle_call, top_call], {}) == {}
    # Without the agent's name on the tool, the one model call asking for the id wins.
    unnamed = AdkSpan("1" * 16, top, "execute_tool middle_agent", {"gen_ai.tool.call.id": "x"})
    asked = _call("2" * 16, middle, "middle_agent", ["x"])
    assert corrected_parents([unnamed, asked], {}) == {"1" * 16: "2" * 16}


def test_an_agent_taking_turns_keeps_each_turn_s_calls() -> None:
    # A LoopAgent: the writer's second turn is a run of its own, its call under it.
    loop, first, second = "l" * 16, "1" * 16, "2" * 16
    runs = {
        loop: ("agent_run [review_loop]", None),
        first: ("agent_run [writer]", loop),
        second: ("agent_run [writer]", loop),
    }
    spans = [_call("3" * 16, first, "writer", []), _call("4" * 16, second, "writer", [])]
    assert corrected_parents(spans, runs) == {}
    # Before the second turn's run arrived, its call's parent is unknown: left where it is.
    del runs[second]
    assert corrected_parents(spans, runs) == {}


def test_steps_stored_before_their_branch_s_run_move_to_it(tmp_path: Path) -> None:
    """Through the real collector: a branch's model calls and tool call (all parented to
    the ParallelAgent, the branch's first call too) arrive first, under a stand-in for the
    ParallelAgent's span; the branch's and the ParallelAgent's spans then arrive in one
    request. The steps end in the branch's run, the ParallelAgent's run has none (nor their
    tokens), and ``rederive`` gives the same."""
    db = tmp_path / "audit.duckdb"
    collector = start_test_collector(db)
    try:
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
        tracer = provider.get_tracer("gcp.vertex.agent")
        invocation = tracer.start_span("invocation")
        parallel = tracer.start_span(
            "agent_run [fan_out]", context=trace.set_span_in_context(invocation)
        )
        north = tracer.start_span(
            "agent_run [north_agent]", context=trace.set_span_in_context(parallel)
        )
        lost = trace.set_span_in_context(parallel)  # ADK's context lost: all under fan_out
        for span in (
            _call("1" * 16, "", "north_agent", ["call_n"]),
            _tool("2" * 16, "", "call_n"),
            _call("3" * 16, "", "north_agent", []),
        ):
            attributes = {**span.attributes, "gen_ai.request.model": "m"}
            if span.name == "call_llm":
                attributes |= {"gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3}
            else:
                attributes |= {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "w"}
            tracer.start_span(span.name, context=lost, attributes=attributes).end()
        provider.force_flush()
        north_id = format(north.get_span_context().span_id, "016x")
        wait_until(
            lambda: collector.query("SELECT count(*) FROM agent_steps")[0][0] == 3 or None,
            timeout_s=15,
            what="the three steps",
        )
        for span in (north, parallel, invocation):
            span.end()
        provider.force_flush()
        runs = wait_until(
            lambda: (
                (
                    rows := collector.query(
                        "SELECT span_id, agent_name, total_steps, input_tokens, output_tokens "
                        "FROM agent_runs WHERE is_final ORDER BY agent_name"
                    )
                )
                and len(rows) == 2
                and rows
            ),
            timeout_s=15,
            what="both runs",
        )
        assert [r[1:] for r in runs] == [("fan_out", 0, None, None), ("north_agent", 3, 14, 6)]
        assert runs[1][0] == north_id
        assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == 2  # no stand-in
        before = derived_rows(collector.query)
        provider.shutdown()
    finally:
        collector.stop()
    assert rederived_rows(db) == before
