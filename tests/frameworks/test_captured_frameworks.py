"""Frameworks not installed for the tests, or at other versions than the installed ones, as
they really traced the same agent: their spans, captured by the scripts in
tests/frameworks/captured/ (which say the versions), are sent over the wire to a real collector,
and every derived field is checked against what the framework itself returned
(``<name>.expected.json``, written by the same capture)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured_runs import send_capture as _send
from tests.frameworks.captured_runs import trace_ids as _trace_ids
from tests.frameworks.venv_frameworks import AGENT_TIMEOUT_S, REPO, venv_python
from tests.support import require_or_skip, wait_until

CAPTURED = Path(__file__).parent / "captured"
FRAMEWORKS = (
    "agno",
    "agno_streamed",
    "ai_sdk",
    "ai_sdk_streamed",
    "dspy",
    "dspy_streamed",
    "semantic_kernel",
    "semantic_kernel_streamed",
    "haystack",
    # pydantic-ai newer than the pinned one, default and version-2 instrumentation.
    "pydantic_ai",
    "pydantic_ai_v2",
    # pydantic-ai 1.0.18: its default (version 2) and version 1 (messages as GenAI events).
    "pydantic_ai_1_0",
    "pydantic_ai_v1",
    # LangGraph on langchain-core newer than the pinned one.
    "langgraph",
    "openai_agents",
)
# The finish reasons a framework's model-call spans record (asking for a tool, answering);
# OpenInference's Agno, DSPy and Agents SDK spans record none.
FINISH_REASONS = {
    "ai_sdk": ("tool-calls", "stop"),
    "ai_sdk_streamed": ("tool-calls", "stop"),
    "semantic_kernel": ("tool_calls", "stop"),
    "semantic_kernel_streamed": ("tool_calls", "stop"),
    "haystack": ("tool_calls", "stop"),
    "pydantic_ai": ("tool_call", "stop"),
    "pydantic_ai_v2": ("tool_call", "stop"),
    "pydantic_ai_1_0": ("tool_call", "stop"),
    "pydantic_ai_v1": ("tool_call", "stop"),
    "langgraph": ("tool_calls", "stop"),
}
RUN_COLUMNS = (
    "id, task, status, final_answer, error, agent_name, model_requested, model_used, "
    "total_steps, input_tokens, output_tokens, parent_run_id"
)
STEP_COLUMNS = "action_type, tool_name, tool_args, tool_result, status, error, model"


def _runs(collector: CollectorHandle, body: bytes) -> dict[str, tuple[Any, ...]]:
    """The captured agent's two top-level runs, by status (``completed``, ``failed``)."""
    traces = _trace_ids(body)

    def settled() -> dict[str, tuple[Any, ...]] | None:
        rows = collector.query(
            f"SELECT {RUN_COLUMNS} FROM agent_runs WHERE trace_id IN (SELECT unnest(?)) "
            "AND parent_run_id IS NULL",
            [traces],
        )
        found = {row[2]: row for row in rows}
        done = len(rows) == 2 and all(r[8] for r in rows) and set(found) == {"completed", "failed"}
        return found if done else None

    return wait_until(settled, timeout_s=15, what="the captured runs")


def _same_result(stored: str | None, returned: Any) -> bool:
    """The tool's result as the framework returned it: text as it is, else the same JSON."""
    if isinstance(returned, str):
        return stored == returned
    return stored is not None and json.loads(stored) == returned


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_captured_framework_runs_read_as_the_framework_reported(
    module_collector: CollectorHandle, name: str
) -> None:
    expected = json.loads((CAPTURED / f"{name}.expected.json").read_text())
    body = (CAPTURED / f"{name}.otlp").read_bytes()
    _send(module_collector, body)
    run_id = _check_runs(module_collector, body, expected)
    reasons = module_collector.query(
        "SELECT finish_reasons FROM agent_steps WHERE agent_run_id = ? AND action_type = 'think' "
        "ORDER BY step_number",
        [run_id],
    )
    asked, answered = FINISH_REASONS.get(name, (None, None))
    calls = len(reasons)
    want = [json.dumps([asked]) if asked else None] * (calls - 1)
    assert [r[0] for r in reasons] == [*want, json.dumps([answered]) if answered else None]


def test_agno_live_in_its_own_venv_reads_as_agno_reported(
    collector: CollectorHandle, tmp_path: Path
) -> None:
    """The installed Agno, run now (the venv .ci/run builds), not only its committed capture;
    a collector of its own, as its tasks are the capture's."""
    python = venv_python("agno")
    require_or_skip(
        python.exists(), f"no Agno venv at {python}: scripts/install-framework-venv.sh agno"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [str(python), "-m", "tests.frameworks.captured.capture_agno", str(tmp_path)],
        cwd=REPO, env=env, check=True, capture_output=True, timeout=AGENT_TIMEOUT_S,
    )  # fmt: skip
    expected = json.loads((tmp_path / "agno.expected.json").read_text())
    body = (tmp_path / "agno.otlp").read_bytes()
    _send(collector, body)
    _check_runs(collector, body, expected)


def _check_runs(collector: CollectorHandle, body: bytes, expected: dict[str, Any]) -> str:
    """Check both runs against what the framework returned; the completed run's id."""
    runs = _runs(collector, body)
    done = expected["success"]
    run = runs["completed"]
    # Semantic Kernel sends the messages as log records, not on its spans: no task to read.
    assert run[1] == (done["task"] if done.get("task_in_trace", True) else None)
    run_id, _, status, answer, error, agent, requested, used, steps, tokens_in, tokens_out = run[
        :11
    ]
    assert (status, answer, error, run[11]) == ("completed", done["answer"], None, None)
    assert agent and requested and used
    assert (tokens_in, tokens_out) == (done["input_tokens"], done["output_tokens"])
    rows = collector.query(
        f"SELECT {STEP_COLUMNS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number",
        [run_id],
    )
    assert steps == len(rows) == done["model_calls"] + len(done["tools"])
    calls = [r for r in rows if r[0] == "think"]
    tools = [r for r in rows if r[0] == "tool_call"]
    assert [r[0] for r in rows] == ["think", "tool_call"] * len(tools) + ["think"]
    assert len(calls) == done["model_calls"]
    assert all(r[4] == "ok" and r[6] for r in calls)
    for row, call in zip(tools, done["tools"], strict=True):
        assert (row[1], json.loads(row[2])) == (call["name"], call["args"])
        if call["error"]:
            assert row[4] == "error"
            assert S.WEATHER_ERROR in row[5]
        else:
            assert (row[4], row[5]) == ("ok", None)
            assert _same_result(row[3], call["result"]), (row[3], call["result"])

    failing = expected["fails"]
    run = runs["failed"]
    assert run[1] == (failing["task"] if done.get("task_in_trace", True) else None)
    assert (run[2], run[3]) == ("failed", None)
    assert S.MODEL_ERROR in run[4]
    assert "run status" not in run[4]  # the cause, not the framework's generic status
    rows = collector.query(
        f"SELECT {STEP_COLUMNS} FROM agent_steps WHERE agent_run_id = ?", [run[0]]
    )
    assert [(r[0], r[4]) for r in rows] == [("think", "error")]
    assert S.MODEL_ERROR in rows[0][5]
    return str(runs["completed"][0])
