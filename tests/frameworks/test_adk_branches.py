"""ADK 1.10's ParallelAgent branches' spans put back in their branch (collector/adk_branches.py),
on the shapes SPANS.md records; test_orchestration.py plays the real ParallelAgent."""

from __future__ import annotations

import json

from collector.adk_branches import AdkSpan, corrected_parents

PARALLEL, NORTH, SOUTH = "p" * 16, "n" * 16, "s" * 16
RUNS = {
    PARALLEL: "agent_run [fan_out]",
    NORTH: "agent_run [north_agent]",
    SOUTH: "agent_run [south_agent]",
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
    # Before the branches' spans arrived nothing tells where the agents' spans are; a tool
    # call still goes under the model call that asked for it.
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
    runs = {**RUNS, single: "agent_run [weather_agent]"}
    assert corrected_parents(spans, runs) == {}
