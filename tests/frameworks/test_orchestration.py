"""Orchestration shapes played against the real frameworks and the real collector: a
LangGraph map-reduce (``Send`` fan-out to agents, a join), a hand-built LangGraph graph whose
``ToolNode`` hands a tool's exception to the model, an ADK ``ParallelAgent``, an OpenAI
Agents SDK agent used as a tool in a streamed run and a pydantic-ai output validator asking
for another answer (``ModelRetry``). Each run checked field by field, then again after
``agent-audit rederive`` rebuilt them from the stored spans."""

from __future__ import annotations

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
        extra = 1 if scenario == "parallel" else 0  # the ParallelAgent's run, checked below
        assert (
            collector.query("SELECT count(*) FROM agent_runs")[0][0] == len(expected_runs) + extra
        )
        if scenario == "parallel":
            _check_parallel_agent(collector, expected_runs[0]["task"])
        if scenario == "output_retry":  # the rejected answer is a model call, not a failure
            steps = steps_of(collector, one_run(collector, expected_runs[0]["task"])["id"])
            assert [(s["action_type"], s["error"]) for s in steps] == [("think", None)] * 2
        before = derived_rows(collector.query)
    finally:
        collector.stop()
    assert rederived_rows(db) == before


def _check_parallel_agent(collector: Any, task: str) -> None:
    """The ParallelAgent's run: the user's request, no steps of its own (it calls no model),
    both branches its children, its answer the branch ADK yielded last."""
    from tests.frameworks.scenarios_adk import PARALLEL_ANSWERS

    top = one_run(collector, task, agent_name="fan_out")
    assert top["parent_run_id"] is None and top["status"] == "completed", top
    assert top["total_steps"] == 0, top
    assert top["final_answer"] in PARALLEL_ANSWERS.values(), top
    children = collector.query(
        "SELECT agent_name FROM agent_runs WHERE parent_run_id = ? ORDER BY agent_name",
        [top["id"]],
    )
    assert [name for (name,) in children] == sorted(PARALLEL_ANSWERS)
