"""Ordinary uses of each framework the main scenarios do not play (tests/frameworks/
scenario_habits.py and each framework's ``*_habits`` module), run live against the real
collector and checked field by field: a tool without arguments, a model message with text and
a tool call, runs of one agent at once with different outcomes, a run inside the caller's own
span, tool calls streamed, and each framework's own extras (guardrails, ``Agent.iter``,
planning, a caller's ``ToolNode``, tool callbacks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.frameworks.collector_checks import check_run, check_tokens_counted_once
from tests.frameworks.plans_habits import PLANS
from tests.frameworks.test_collector_frameworks import _require, _run_scenarios
from tests.frameworks.venv_frameworks import run_agent_script, venv_python
from tests.scripted_llm import ScriptedLLM
from tests.support import require_or_skip

COMMON = [
    "no_argument_tool",
    "text_with_tool_call",
    "mixed_at_once",
    "outer_span",
    "streamed_parallel_tools",
]
EXTRAS = {
    "pydantic-ai": ["agent_iter"],
    "openai-agents": ["input_guardrail_trips", "output_guardrail_trips", "tool_guardrail_rejects"],
    "smolagents": ["planning"],
    "langgraph": ["prebuilt_tool_node"],
    "langgraph-openllmetry": ["prebuilt_tool_node"],
    "strands": [],
    "google-adk": ["tool_callback"],
}
CASES = [
    ("pydantic-ai", "http"),
    ("openai-agents", "grpc"),
    ("smolagents", "http"),
    ("langgraph", "http"),
    ("langgraph-openllmetry", "grpc"),
    ("strands", "http"),
    ("google-adk", "grpc"),
]


@pytest.mark.parametrize(("framework", "protocol"), CASES)
def test_everyday_uses_come_out_as_the_framework_ran_them(
    framework: str, protocol: str, collector: Any, tmp_path: Path
) -> None:
    _require(framework)
    wanted = COMMON + EXTRAS[framework]
    report = _run_scenarios(
        framework, protocol, collector, tmp_path / "expected.json", "--only", *wanted
    )
    assert {item["scenario"] for item in report["results"]} == set(wanted)
    expected_runs = [run for item in report["results"] for run in item["runs"]]
    for expected in expected_runs:
        check_run(collector, expected, framework)
    # No phantom runs (the caller's span, a wrapper) and no duplicates; no step lost its run.
    assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == len(expected_runs)
    orphans = collector.query("SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL")
    assert orphans[0][0] == 0
    check_tokens_counted_once(collector)
    running = collector.query(
        "SELECT (SELECT count(*) FROM agent_runs WHERE status = 'running'), "
        "(SELECT count(*) FROM agent_steps WHERE status = 'running')"
    )
    assert running[0] == (0, 0)


VENV_CASES = [
    ("crewai", "http"),
    ("llamaindex", "grpc"),
    ("autogen", "http"),
    ("traceloop", "grpc"),
]


@pytest.mark.parametrize(("framework", "protocol"), VENV_CASES)
def test_everyday_uses_in_a_framework_s_own_venv(
    framework: str, protocol: str, collector: Any, tmp_path: Path
) -> None:
    python = venv_python(framework)
    require_or_skip(python.exists(), f"{framework} runs in {python.parent.parent} (.ci/run)")
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    with ScriptedLLM() as llm:
        expected_runs = run_agent_script(
            framework, PLANS[framework](), llm, endpoint, protocol, tmp_path
        )
    for expected in expected_runs:
        check_run(collector, expected, framework)
    assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == len(expected_runs)
    orphans = collector.query("SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL")
    assert orphans[0][0] == 0
    check_tokens_counted_once(collector)
