"""Checks of what the collector derived, field by field, against a scenario's expected runs
(the dict form of tests.frameworks.scenario.RunExpectation). Shared by the framework tests."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support import wait_until

__all__ = ["check_run", "one_run", "steps_of", "check_tokens_counted_once"]

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
    "span_id",
    "parent_span_id",
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


def _runs_with(collector: Any, marker: str) -> list[dict[str, Any]]:
    rows = collector.query(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM agent_runs WHERE contains(task, ?)", [marker]
    )
    return [dict(zip(RUN_COLUMNS, row, strict=True)) for row in rows]


def steps_of(collector: Any, run_id: str) -> list[dict[str, Any]]:
    rows = collector.query(
        f"SELECT {', '.join(STEP_COLUMNS)} FROM agent_steps WHERE agent_run_id = ? "
        "ORDER BY step_number",
        [run_id],
    )
    return [dict(zip(STEP_COLUMNS, row, strict=True)) for row in rows]


def one_run(
    collector: Any, task: str, *, top_level: bool = False, agent_name: str | None = None
) -> dict[str, Any]:
    """The one finished run whose task carries ``task``'s marker (with ``top_level``, the one
    without a parent: a team's turns work on the team's task too; with ``agent_name``, the
    one of that agent: sub-agents handed the user's request work on the same task)."""
    marker = _MARKER.search(task)
    assert marker, task
    found = wait_until(
        lambda: [
            r
            for r in _runs_with(collector, marker.group())
            if r["completed_at"]
            and not (top_level and r["parent_run_id"])
            and agent_name in (None, r["agent_name"])
        ],
        timeout_s=15,
        what=f"the run of {marker.group()}",
    )
    assert len(found) == 1, found
    return found[0]


def check_tokens_counted_once(collector: Any) -> None:
    """A run's tokens are its own model calls': in every trace the runs' tokens add up to
    the steps'. A run that only runs other agents (a team, a workflow agent, a graph of
    agents) has none of its own, so a total over runs counts no call twice."""
    recounted = collector.query(
        "SELECT r.trace_id, sum(r.input_tokens), sum(r.output_tokens), "
        "(SELECT sum(input_tokens) FROM agent_steps s WHERE s.trace_id = r.trace_id), "
        "(SELECT sum(output_tokens) FROM agent_steps s WHERE s.trace_id = r.trace_id) "
        "FROM agent_runs r GROUP BY r.trace_id"
    )
    assert [row for row in recounted if row[1:3] != row[3:5]] == []


def check_run(collector: Any, expected: dict[str, Any], framework: str) -> None:
    shared = expected.get("task_shared", False)
    run = one_run(
        collector, expected["task"], agent_name=expected["agent_name"] if shared else None
    )
    where = f"{framework} run {expected['task']!r}: {run}"
    assert expected["task"] in run["task"], where
    assert run["status"] == expected["status"], where
    assert run["service_name"] == f"fw-{framework}", where
    if expected["final_answer"] is None:
        assert run["final_answer"] is None, where
    elif expected["final_answer"] == "":
        assert run["final_answer"] == "", where  # answered, with no text
    else:
        assert expected["final_answer"] in (run["final_answer"] or ""), where
    if expected["error"] is None:
        assert run["error"] is None, where
    elif expected.get("error_whole"):
        assert run["error"] == expected["error"], where
    else:
        assert expected["error"] in (run["error"] or ""), where
    if expected["agent_name"]:
        assert run["agent_name"] == expected["agent_name"], where
    if expected["model_requested"]:
        assert run["model_requested"] == expected["model_requested"], where
    if expected.get("model_used"):
        assert run["model_used"] == expected["model_used"], where
    # Only a run stopped before any model call (a tripped input guardrail) has no model.
    assert run["model_used"] or (expected["llm_steps_at_least"] == 0 and not run["total_steps"])
    if expected["parent_task"]:
        parent = one_run(collector, expected["parent_task"], top_level=shared)
        assert run["parent_run_id"] == parent["id"], where
    else:
        assert run["parent_run_id"] is None, where

    steps = steps_of(collector, run["id"])
    assert [s["step_number"] for s in steps] == list(range(1, len(steps) + 1)), steps
    assert run["total_steps"] == len(steps), where
    assert {s["action_type"] for s in steps} <= {"tool_call", "think", "response"}, steps
    tools = [s for s in steps if s["action_type"] == "tool_call"]
    want_tools = expected["tools"]
    if expected.get("tools_in_any_order"):
        # Both sides in one order (by arguments): which started first is the framework's.
        tools = sorted(tools, key=lambda t: json.dumps(json.loads(t["tool_args"]), sort_keys=True))
        want_tools = sorted(want_tools, key=lambda t: json.dumps(t["args"], sort_keys=True))
    assert [t["tool_name"] for t in tools] == [t["name"] for t in want_tools], steps
    for got, want in zip(tools, want_tools, strict=True):
        assert json.loads(got["tool_args"]) == want["args"], (got, want)
        if want["result"] is not None:
            assert want["result"] in (got["tool_result"] or ""), (got, want)
        if want["error"] is None:
            assert got["error"] is None and got["status"] == "ok", (got, want)
        else:
            assert want["error"] in (got["error"] or ""), (got, want)
            assert got["status"] == "error", (got, want)
        if want.get("inner_llm_steps") is not None:
            # Work done inside the tool (a delegated coworker's model calls): steps of this
            # run, nested under the tool's step.
            inner = [s for s in steps if s["parent_span_id"] == got["span_id"]]
            assert [s["action_type"] for s in inner] == ["think"] * want["inner_llm_steps"], steps
    responses = [s for s in steps if s["action_type"] == "response"]
    if expected.get("response") is not None:
        # A terminal answer tool (smolagents' final_answer) is the run's response step.
        assert len(responses) == 1, steps
        assert expected["response"] in (responses[0]["tool_result"] or ""), steps
        assert responses[0]["tool_name"] is None, steps
    else:
        assert responses == [], steps
    llm_steps = [s for s in steps if s["action_type"] == "think"]
    assert len(llm_steps) >= expected["llm_steps_at_least"], steps
    answered = [s for s in llm_steps if s["error"] is None]
    # A workflow of agents makes no model call of its own (its sub-agents' runs do).
    assert answered or expected["llm_steps_at_least"] == 0, steps
    assert all(s["model"] for s in answered), steps
    assert all(s["input_tokens"] and s["output_tokens"] for s in answered), steps
