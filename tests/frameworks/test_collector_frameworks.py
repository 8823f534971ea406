"""Each framework, pointed at the real collector over OTLP, leaves the right runs and steps.

The scenarios run in a subprocess set up like a user's agent (global tracer provider, batching
OTLP exporter, ``instrumentation.auto.instrument``); then agent_runs and agent_steps are
checked field by field against what the scenario says should be there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.frameworks.collector_run import FRAMEWORKS
from tests.support import require_or_skip, wait_until

REPO = Path(__file__).resolve().parents[2]
# Both OTLP exporters are exercised, each by about half of the frameworks.
CASES = [
    ("pydantic-ai", "grpc"),
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


RUN_COLUMNS = (
    "id",
    "task",
    "status",
    "final_answer",
    "error",
    "agent_name",
    "model_requested",
    "model_used",
    "provider",
    "parent_run_id",
    "total_steps",
    "service_name",
    "completed_at",
)
STEP_COLUMNS = (
    "step_number",
    "action_type",
    "tool_name",
    "tool_args",
    "tool_result",
    "error",
    "status",
    "model",
    "input_tokens",
    "output_tokens",
)
_MARKER = re.compile(r"\[[a-z-]+-[0-9a-f]{10}\]")


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


def _runs_with(collector: Any, marker: str) -> list[dict[str, Any]]:
    rows = collector.query(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM agent_runs WHERE contains(task, ?)", [marker]
    )
    return [dict(zip(RUN_COLUMNS, row, strict=True)) for row in rows]


def _steps_of(collector: Any, run_id: str) -> list[dict[str, Any]]:
    rows = collector.query(
        f"SELECT {', '.join(STEP_COLUMNS)} FROM agent_steps WHERE agent_run_id = ? "
        "ORDER BY step_number",
        [run_id],
    )
    return [dict(zip(STEP_COLUMNS, row, strict=True)) for row in rows]


def _one_run(collector: Any, task: str) -> dict[str, Any]:
    marker = _MARKER.search(task)
    assert marker, task
    found = wait_until(
        lambda: [r for r in _runs_with(collector, marker.group()) if r["completed_at"]],
        timeout_s=15,
        what=f"the run of {marker.group()}",
    )
    assert len(found) == 1, found
    return found[0]


def _check_run(collector: Any, expected: dict[str, Any], framework: str) -> None:
    run = _one_run(collector, expected["task"])
    where = f"{framework} run {expected['task']!r}: {run}"
    assert expected["task"] in run["task"], where
    assert run["status"] == expected["status"], where
    assert run["service_name"] == f"fw-{framework}", where
    if expected["final_answer"] is None:
        assert run["final_answer"] is None, where
    else:
        assert expected["final_answer"] in (run["final_answer"] or ""), where
    if expected["error"] is None:
        assert run["error"] is None, where
    else:
        assert expected["error"] in (run["error"] or ""), where
    if expected["agent_name"]:
        assert run["agent_name"] == expected["agent_name"], where
    if expected["model_requested"]:
        assert run["model_requested"] == expected["model_requested"], where
    if expected.get("model_used"):
        assert run["model_used"] == expected["model_used"], where
    assert run["model_used"], where
    if expected["parent_task"]:
        parent = _one_run(collector, expected["parent_task"])
        assert run["parent_run_id"] == parent["id"], where
    else:
        assert run["parent_run_id"] is None, where

    steps = _steps_of(collector, run["id"])
    assert [s["step_number"] for s in steps] == list(range(1, len(steps) + 1)), steps
    assert run["total_steps"] == len(steps), where
    assert {s["action_type"] for s in steps} <= {"tool_call", "think", "response"}, steps
    tools = [s for s in steps if s["action_type"] == "tool_call"]
    assert [t["tool_name"] for t in tools] == [t["name"] for t in expected["tools"]], steps
    for got, want in zip(tools, expected["tools"], strict=True):
        assert json.loads(got["tool_args"]) == want["args"], (got, want)
        if want["result"] is not None:
            assert want["result"] in (got["tool_result"] or ""), (got, want)
        if want["error"] is None:
            assert got["error"] is None and got["status"] == "ok", (got, want)
        else:
            assert want["error"] in (got["error"] or ""), (got, want)
            assert got["status"] == "error", (got, want)
    responses = [s for s in steps if s["action_type"] == "response"]
    if expected.get("response"):
        # A terminal answer tool (smolagents' final_answer) is the run's response step.
        assert len(responses) == 1, steps
        assert expected["response"] in (responses[0]["tool_result"] or ""), steps
        assert responses[0]["tool_name"] is None, steps
    else:
        assert responses == [], steps
    llm_steps = [s for s in steps if s["action_type"] == "think"]
    assert len(llm_steps) >= expected["llm_steps_at_least"], steps
    answered = [s for s in llm_steps if s["error"] is None]
    assert answered and all(s["model"] for s in answered), steps
    assert all(s["input_tokens"] and s["output_tokens"] for s in answered), steps


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
        _check_run(collector, expected, framework)
    # Nothing else became a run: no empty wrapper runs, no duplicates.
    total = collector.query("SELECT count(*) FROM agent_runs")[0][0]
    assert total == len(expected_runs)
    orphans = collector.query("SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL")
    assert orphans[0][0] == 0
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
    _check_run(collector, expected, "openai-agents")
    run = _one_run(collector, expected["task"])
    steps = _steps_of(collector, run["id"])
    assert [s["action_type"] for s in steps] == ["think", "tool_call"] * 2 + ["think"]
    client_spans = collector.query(
        "SELECT count(*) FROM spans WHERE name LIKE 'chat %' "
        "AND NOT contains(attributes, 'agent_audit.pending') "
        "AND trace_id = (SELECT trace_id FROM agent_runs WHERE id = ?)",
        [run["id"]],
    )
    assert client_spans[0][0] == 3  # they were received and kept, just not made steps
