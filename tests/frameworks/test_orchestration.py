"""Orchestration shapes played against the real frameworks and the real collector: a
LangGraph map-reduce (``Send`` fan-out to agents, a join), an agent graph as a node of a
parent graph, a hand-built LangGraph graph whose ``ToolNode`` hands a tool's exception to
the model, an ADK ``ParallelAgent``, an OpenAI
Agents SDK agent used as a tool in a streamed run and a pydantic-ai output validator asking
for another answer (``ModelRetry``). Each run checked field by field, then again after
``agent-audit rederive`` rebuilt them from the stored spans."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.frameworks.collector_checks import (
    check_run,
    check_tokens_counted_once,
    one_run,
    steps_of,
)
from tests.frameworks.shared_plays import EXTRA_RUNS, Plays, cases
from tests.frameworks.test_collector_frameworks import _require

SCENARIOS = ("fan_out", "parallel", "nested_streamed", "output_retry", "tool_node_handles_error",
             "subgraph", "chains")  # fmt: skip
CASES = [
    pytest.param(*case.values, scenario, marks=case.marks)
    for scenario in SCENARIOS
    for case in cases(scenario)
]


@pytest.mark.parametrize(("framework", "protocol", "scenario"), CASES)
def test_orchestrated_agents_are_runs_nested_as_played(
    framework: str, protocol: str, scenario: str, plays: Plays
) -> None:
    _require(framework)
    played = plays.get(framework, protocol)
    collector = played.collector
    expected_runs = played.runs_of(scenario)
    for expected in expected_runs:
        check_run(collector, expected, framework)
    check_tokens_counted_once(collector)
    extra = EXTRA_RUNS.get(scenario, 0)  # the ParallelAgent's runs, checked below
    run_ids = played.run_ids(scenario)
    if scenario == "parallel":
        run_ids.append(_check_parallel_agent(collector))
    assert played.runs_in_traces_of(run_ids) == len(expected_runs) + extra
    played.check_no_other_runs()
    if scenario == "output_retry":  # the rejected answer is a model call, not a failure
        steps = steps_of(collector, one_run(collector, expected_runs[0]["task"])["id"])
        assert [(s["action_type"], s["error"]) for s in steps] == [("think", None)] * 2
    assert played.rederived == played.live


def _check_parallel_agent(collector: Any) -> str:
    """A ParallelAgent whose branches each call a tool, then answer (ADK 1.10, SPANS.md):
    ADK parents the branches' tool calls and later model calls to the ParallelAgent's span
    (its context is lost across the branches); the collector puts each back in its branch
    (the agent a model call names, the model call a tool call answers). Each branch is a
    child run on the user's request with its model call, tool call and answer; the parallel
    run has no step of its own and answers with the branch ADK yielded last. Returns the
    parallel run's id."""
    from tests.frameworks.scenarios_adk import PARALLEL_ANSWERS, PARALLEL_CITIES

    (task,) = collector.query("SELECT task FROM agent_runs WHERE agent_name = 'fan_out'")[0]
    top = one_run(collector, task, agent_name="fan_out")
    assert top["parent_run_id"] is None and top["status"] == "completed", top
    assert top["final_answer"] in PARALLEL_ANSWERS.values(), top
    assert steps_of(collector, top["id"]) == []
    branches = collector.query(
        "SELECT id, agent_name, task, final_answer, status FROM agent_runs "
        "WHERE parent_run_id = ? ORDER BY agent_name",
        [top["id"]],
    )
    assert [row[1:] for row in branches] == [
        (name, task, PARALLEL_ANSWERS[name], "completed") for name in sorted(PARALLEL_ANSWERS)
    ]
    for run_id, name, *_ in branches:
        steps = steps_of(collector, run_id)
        assert [s["action_type"] for s in steps] == ["think", "tool_call", "think"], (name, steps)
        city = PARALLEL_CITIES[name]
        tool = steps[1]
        assert (tool["tool_name"], json.loads(tool["tool_args"]), tool["tool_result"]) == (
            "get_weather",
            {"city": city},
            f"sunny in {city}",
        ), (name, steps)
        assert all(s["input_tokens"] and s["model"] for s in steps if s["action_type"] == "think")
    return str(top["id"])
