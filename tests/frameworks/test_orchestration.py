"""Orchestration shapes played against the real frameworks and the real collector: a
LangGraph map-reduce (``Send`` fan-out to agents, a join), an agent graph as a node of a
parent graph, a hand-built LangGraph graph whose ``ToolNode`` hands a tool's exception to
the model, an ADK ``ParallelAgent``, an OpenAI
Agents SDK agent used as a tool in a streamed run and a pydantic-ai output validator asking
for another answer (``ModelRetry``). Each run checked field by field, then again after
``agent-audit rederive`` rebuilt them from the stored spans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_test_collector
from tests.frameworks.collector_checks import (
    check_run,
    check_tokens_counted_once,
    one_run,
    steps_of,
)
from tests.frameworks.teams import derived_rows, rederived_rows
from tests.frameworks.test_collector_frameworks import _require, _run_scenarios

CASES = [
    ("langgraph", "grpc", "fan_out"),
    ("langgraph-openllmetry", "http", "fan_out"),
    ("google-adk", "http", "parallel"),
    ("openai-agents", "grpc", "nested_streamed"),
    ("pydantic-ai", "grpc", "output_retry"),
    ("langgraph", "http", "tool_node_handles_error"),
    ("langgraph-openllmetry", "grpc", "tool_node_handles_error"),
    ("langgraph", "grpc", "subgraph"),
    ("langgraph-openllmetry", "http", "subgraph"),
    ("langgraph", "grpc", "chains"),
    ("langgraph-openllmetry", "http", "chains"),
]


@pytest.mark.parametrize(("framework", "protocol", "scenario"), CASES)
def test_orchestrated_agents_are_runs_nested_as_played(
    framework: str, protocol: str, scenario: str, tmp_path: Path
) -> None:
    _require(framework)
    db = tmp_path / "audit.duckdb"
    collector = start_test_collector(db)
    try:
        report = _run_scenarios(
            framework, protocol, collector, tmp_path / "expected.json", "--only", scenario
        )
        expected_runs = report["results"][0]["runs"]
        for expected in expected_runs:
            check_run(collector, expected, framework)
        check_tokens_counted_once(collector)
        extra = 3 if scenario == "parallel" else 0  # the ParallelAgent's runs, checked below
        assert (
            collector.query("SELECT count(*) FROM agent_runs")[0][0] == len(expected_runs) + extra
        )
        if scenario == "parallel":
            _check_parallel_agent(collector)
        if scenario == "output_retry":  # the rejected answer is a model call, not a failure
            steps = steps_of(collector, one_run(collector, expected_runs[0]["task"])["id"])
            assert [(s["action_type"], s["error"]) for s in steps] == [("think", None)] * 2
        before = derived_rows(collector.query)
    finally:
        collector.stop()
    assert rederived_rows(db) == before


def _check_parallel_agent(collector: Any) -> None:
    """A ParallelAgent whose branches each call a tool, then answer (ADK 1.10, SPANS.md):
    ADK parents the branches' tool calls and later model calls to the ParallelAgent's span
    (its context is lost across the branches); the collector puts each back in its branch
    (the agent a model call names, the model call a tool call answers). Each branch is a
    child run on the user's request with its model call, tool call and answer; the parallel
    run has no step of its own and answers with the branch ADK yielded last."""
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
