"""Each framework, pointed at the real collector over OTLP, leaves the right runs and steps.

The scenarios run in a subprocess set up like a user's agent (global tracer provider, batching
OTLP exporter, ``instrumentation.auto.instrument``); then agent_runs and agent_steps are
checked field by field against what the scenario says should be there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
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
from tests.frameworks.collector_run import FRAMEWORKS
from tests.frameworks.teams import derived_rows, rederived_rows
from tests.support import require_or_skip

REPO = Path(__file__).resolve().parents[2]
# Both OTLP exporters are exercised, each by about half of the frameworks.
CASES = [
    ("pydantic-ai", "grpc"),
    ("pydantic-ai-v2", "http"),
    ("pydantic-ai-v3", "grpc"),
    ("pydantic-ai-v4", "http"),
    ("pydantic-ai-v6", "grpc"),
    ("openai-agents", "http"),
    ("smolagents", "grpc"),
    ("openai", "http"),
    ("langgraph", "grpc"),
    ("langgraph-openllmetry", "http"),
    ("strands", "grpc"),
    ("strands-latest-semconv", "http"),
    ("google-adk", "http"),
]
# The modules each scenario set needs (the framework and its instrumentation).
NEEDS = {
    "langgraph": (
        "langchain",
        "langgraph",
        "langchain_openai",
        "openinference.instrumentation.langchain",
    ),
    "langgraph-openllmetry": (
        "langchain",
        "langgraph",
        "langchain_openai",
        "opentelemetry.instrumentation.langchain",
    ),
    "strands": ("strands", "strands.models.openai"),
    "strands-latest-semconv": ("strands", "strands.models.openai"),
    "google-adk": ("google.adk", "google.genai"),
}


def _require(framework: str) -> None:
    missing = [m for m in NEEDS.get(framework, ()) if importlib.util.find_spec(m) is None]
    require_or_skip(not missing, f"{framework} needs {missing} (the test extra installs them)")


def _run_scenarios(
    framework: str, protocol: str, collector: Any, out: Path, *extra: str
) -> dict[str, Any]:
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.frameworks.collector_run", framework]
        + ["--endpoint", endpoint, "--protocol", protocol, "--out", str(out), *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize(("framework", "protocol"), CASES)
def test_framework_runs_reach_the_collector(
    framework: str, protocol: str, collector: Any, tmp_path: Path
) -> None:
    _require(framework)
    report = _run_scenarios(framework, protocol, collector, tmp_path / "expected.json")
    assert report["enabled"] == [FRAMEWORKS[framework][1]]
    scenarios = {item["scenario"] for item in report["results"]}
    assert {"success", "fails", "concurrent"} <= scenarios
    assert scenarios & {"tool_error_recovers", "tool_raises"}
    expected_runs = [run for item in report["results"] for run in item["runs"]]
    for expected in expected_runs:
        check_run(collector, expected, framework)
    # Nothing else became a run: no empty wrapper runs, no duplicates.
    total = collector.query("SELECT count(*) FROM agent_runs")[0][0]
    assert total == len(expected_runs)
    orphans = collector.query("SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL")
    assert orphans[0][0] == 0
    check_tokens_counted_once(collector)
    # Every live (pending) row was replaced by its finished span.
    running = collector.query(
        "SELECT (SELECT count(*) FROM agent_runs WHERE status = 'running'), "
        "(SELECT count(*) FROM agent_steps WHERE status = 'running')"
    )
    assert running[0] == (0, 0)


def test_a_model_call_traced_twice_is_one_step(collector: Any, tmp_path: Path) -> None:
    """The OpenAI client's own span inside the framework's LLM span is not a second step."""
    report = _run_scenarios(
        "openai-agents",
        "grpc",
        collector,
        tmp_path / "expected.json",
        "--also",
        "openai",
        "--only",
        "success",
    )
    assert report["enabled"] == ["openai-agents", "openai"]
    (expected,) = report["results"][0]["runs"]
    check_run(collector, expected, "openai-agents")
    run = one_run(collector, expected["task"])
    steps = steps_of(collector, run["id"])
    assert [s["action_type"] for s in steps] == ["think", "tool_call"] * 2 + ["think"]
    client_spans = collector.query(
        "SELECT count(*) FROM spans WHERE name LIKE 'chat %' "
        "AND NOT contains(attributes, 'agent_audit.pending') "
        "AND trace_id = (SELECT trace_id FROM agent_runs WHERE id = ?)",
        [run["id"]],
    )
    assert client_spans[0][0] == 3  # they were received and kept, just not made steps


@pytest.mark.parametrize(
    ("framework", "protocol"), [("langgraph", "grpc"), ("langgraph-openllmetry", "http")]
)
def test_a_langgraph_supervisor_hands_over_and_back(
    framework: str, protocol: str, collector: Any, tmp_path: Path
) -> None:
    """A supervisor agent's hand-off tool returns ``Command(graph=Command.PARENT)``, which
    LangGraph raises up to the parent graph: a hand-over, not a failure. Its step's result is
    the tool message the hand-off adds, not the Command."""
    _require(framework)
    from tests.frameworks.scenarios_langgraph_graphs import HANDED_OVER, SUPERVISOR_ANSWER

    report = _run_scenarios(
        framework, protocol, collector, tmp_path / "expected.json", "--only", "supervisor"
    )
    team, researcher = report["results"][0]["runs"]
    for expected in (team, researcher):
        check_run(collector, expected, framework)
    check_tokens_counted_once(collector)
    top = one_run(collector, team["task"], agent_name="supervisor_team")
    turns = collector.query(
        "SELECT id, status, error, final_answer FROM agent_runs "
        "WHERE parent_run_id = ? AND agent_name = 'supervisor' ORDER BY started_at",
        [top["id"]],
    )
    assert [(status, error) for _, status, error, _ in turns] == [("completed", None)] * 2
    assert [answer for *_, answer in turns] == [None, SUPERVISOR_ANSWER]
    handed = [s for s in steps_of(collector, turns[0][0]) if s["action_type"] == "tool_call"]
    assert [(s["tool_name"], s["tool_result"], s["status"]) for s in handed] == [
        ("transfer_to_researcher", HANDED_OVER, "ok")
    ]


@pytest.mark.parametrize(
    ("framework", "protocol"), [("langgraph", "http"), ("langgraph-openllmetry", "grpc")]
)
def test_a_langgraph_run_paused_for_a_human_and_resumed(
    framework: str, protocol: str, collector: Any, tmp_path: Path
) -> None:
    """``interrupt()`` in a tool, then ``Command(resume=...)``: two runs on the user's
    request (the resumed one's task is not the Command's JSON); the pause is no failure."""
    _require(framework)
    from tests.frameworks.scenarios_langgraph_graphs import APPROVED_ANSWER

    report = _run_scenarios(
        framework, protocol, collector, tmp_path / "expected.json", "--only", "human_in_the_loop"
    )
    (expected,) = report["results"][0]["runs"]
    runs = collector.query(
        "SELECT id, task, status, error, final_answer FROM agent_runs ORDER BY started_at"
    )
    assert [(task, status, error) for _, task, status, error, _ in runs] == [
        (expected["task"], "completed", None)
    ] * 2
    assert [answer for *_, answer in runs] == [None, APPROVED_ANSWER]
    paused, resumed = (steps_of(collector, run[0]) for run in runs)
    assert [(s["action_type"], s["tool_name"], s["error"]) for s in paused] == [
        ("think", None, None),
        ("tool_call", "restart", None),
    ]
    assert json.loads(paused[1]["tool_args"]) == {"service": "nginx"}
    assert [(s["action_type"], s["tool_result"]) for s in resumed] == [
        ("tool_call", "restarted nginx"),
        ("think", None),
    ]


def test_an_adk_loop_agent_s_turns_work_on_the_user_s_request(
    collector: Any, tmp_path: Path
) -> None:
    """A ``LoopAgent``'s sub-agents take turns until one calls ``exit_loop``: each turn a
    child run on the user's request, in order, the exiting turn without an answer."""
    _require("google-adk")
    from tests.frameworks.scenarios_adk import LOOP_DRAFTS, LOOP_REVIEW

    report = _run_scenarios(
        "google-adk", "http", collector, tmp_path / "expected.json", "--only", "loop"
    )
    (expected,) = report["results"][0]["runs"]
    check_run(collector, expected, "google-adk")
    top = one_run(collector, expected["task"], agent_name="review_loop")
    turns = collector.query(
        "SELECT agent_name, task, final_answer, status FROM agent_runs "
        "WHERE parent_run_id = ? ORDER BY started_at",
        [top["id"]],
    )
    assert [(name, answer, status) for name, _, answer, status in turns] == [
        ("writer", LOOP_DRAFTS[0], "completed"),
        ("checker", LOOP_REVIEW, "completed"),
        ("writer", LOOP_DRAFTS[1], "completed"),
        ("checker", None, "completed"),
    ]
    assert {task for _, task, _, _ in turns} == {expected["task"]}
    check_tokens_counted_once(collector)


def test_an_adk_agent_tool_child_failing_first_works_on_what_it_was_asked(
    collector: Any, tmp_path: Path
) -> None:
    """A child agent called through ``AgentTool`` fails on its first model call, which records
    no request: its task is the request the parent's tool call handed it, and both fail."""
    _require("google-adk")
    from tests.frameworks.scenario import MODEL_ERROR
    from tests.frameworks.scenarios_adk import SUB_AGENT_REQUEST

    report = _run_scenarios(
        "google-adk", "grpc", collector, tmp_path / "expected.json", "--only", "sub_agent_fails"
    )
    (expected,) = report["results"][0]["runs"]
    check_run(collector, expected, "google-adk")
    parent = one_run(collector, expected["task"])
    (child,) = collector.query(
        "SELECT agent_name, task, status, final_answer, error FROM agent_runs "
        "WHERE parent_run_id = ?",
        [parent["id"]],
    )
    assert child[:4] == ("child_agent", SUB_AGENT_REQUEST, "failed", None)
    assert MODEL_ERROR in child[4]


@pytest.mark.parametrize(
    ("framework", "scenarios"),
    [
        ("openai-agents", ["handoff_named", "cancelled", "empty_answer", "ctrl_c"]),
        ("strands", ["multi_turn", "cancelled", "ctrl_c"]),
        ("google-adk", ["ctrl_c", "empty_answer"]),
    ],
)
def test_what_the_spans_tell_comes_back_after_rederive(
    framework: str, scenarios: list[str], tmp_path: Path
) -> None:
    """Fields derived across a trace (a hand-off's tool name from its model call, a
    cancellation told by a cut call, an empty answer, run tokens from the steps) are the
    same after ``agent-audit rederive`` rebuilt the rows from the stored spans."""
    _require(framework)
    db = tmp_path / "audit.duckdb"
    collector = start_test_collector(db)
    try:
        report = _run_scenarios(
            framework, "grpc", collector, tmp_path / "expected.json", "--only", *scenarios
        )
        for expected in (run for item in report["results"] for run in item["runs"]):
            check_run(collector, expected, framework)
        before = derived_rows(collector.query)
    finally:
        collector.stop()
    assert rederived_rows(db) == before


def test_agents_sdk_hand_offs_back_and_forth(collector: Any, tmp_path: Path) -> None:
    """Triage hands to the specialist, which hands back to triage, which answers: three
    top-level runs on the user's request in that order, each hand-off its run's last step
    named as the model called it, only the last run answering."""
    _require("openai-agents")
    report = _run_scenarios(
        "openai-agents", "http", collector, tmp_path / "expected.json", "--only", "handoff_and_back"
    )
    expected = report["results"][0]["runs"]
    runs = collector.query(
        "SELECT id, agent_name, task, status, final_answer, error, parent_run_id "
        "FROM agent_runs ORDER BY started_at"
    )
    assert [(r[1], r[3], r[4], r[5], r[6]) for r in runs] == [
        (e["agent_name"], "completed", e["final_answer"], None, None) for e in expected
    ]
    assert {r[2] for r in runs} == {expected[0]["task"]}
    for run, want in zip(runs, expected, strict=True):
        steps = steps_of(collector, run[0])
        tools = [(s["tool_name"], json.loads(s["tool_args"]), s["tool_result"]) for s in steps
                 if s["action_type"] == "tool_call"]  # fmt: skip
        assert tools == [(t["name"], t["args"], t["result"]) for t in want["tools"]], steps
        assert [s["action_type"] for s in steps][-1] == ("tool_call" if want["tools"] else "think")
    check_tokens_counted_once(collector)
