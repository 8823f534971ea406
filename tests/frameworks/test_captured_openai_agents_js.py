"""The OpenAI Agents SDK for JavaScript (``@openai/agents``, its default Responses API model)
traced by OpenInference's JS processor, as it really traced the shared agent
(``captured/capture_openai_agents_js.py``, which says the versions): the spans go over the
wire to a real collector and every run and step is read against what each ``run`` returned
(``openai_agents_js.expected.json``)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured_runs import (
    body_of,
    expected_of,
    run_steps,
    send_capture,
    settled_runs,
)

SERVED = "scripted-openai-agents-js-served"
# What the SDK tells the model and writes in the trace for a tool that raised: the error
# itself is redacted unless the tool has an errorFunction of its own.
TOOL_FAILED = "An error occurred while running the tool. Please try again."


@pytest.mark.parametrize("name", ["openai_agents_js", "openai_agents_js_streamed"])
def test_openai_agents_js_runs_read_as_the_sdk_returned(
    module_collector: CollectorHandle, name: str
) -> None:
    """Each agent span is a run (the SDK's ``Agent workflow`` root, which holds the same
    input and output, is not another): task and answer from its model calls, each call and
    each tool call a step in order, the raising tool a failed step whose result is what the
    model was told; the failing model a failed run with the error ``run`` raised (not the
    processor's ``Error in agent run`` wrapper); ``maxTurns`` reached ``max_steps``; an
    agent behind ``asTool`` a child run. Streamed (``run(..., { stream: true })``) the same
    runs, and the failed one has its task: a streamed call records its input at its start."""
    expected = expected_of(name)
    streamed = expected.get("streamed", False)
    body = body_of(name)
    send_capture(module_collector, body)
    rows = settled_runs(module_collector, body, 5, what=name)
    runs = {r[3]: r for r in rows}
    done = expected["success"]
    run = runs[done["task"]]
    assert run[1:8] == ("weather_agent", "completed", done["task"], done["answer"], None, None, 7)
    # The processor records the model that answered only.
    assert run[8:12] == (done["input_tokens"], done["output_tokens"], SERVED, SERVED)
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * 3 + ["think"]
    assert [s[7] for s in steps if s[0] == "think"] == [100, 110, 120, 130]
    assert done["model_calls"] == done["model_calls_served"] == 4
    tools = [(s[1], json.loads(s[2]), s[3], s[4]) for s in steps if s[0] == "tool_call"]
    assert tools == [
        (t["name"], t["args"], t.get("result", TOOL_FAILED), "error" if t["error"] else "ok")
        for t in done["tools"]
    ]
    assert "get_weather" in steps[1][5] and "redacted" in steps[1][5]

    fails = expected["fails"]
    assert S.MODEL_ERROR in fails["raised"]
    # Not streamed, the failed run's root span never ended and its model call recorded no
    # request: no span holds the task. Streamed, the call recorded its input at its start.
    (failed,) = [r for r in rows if r[2] == "failed"]
    task = fails["task"] if streamed else None
    assert failed[1:6] == ("weather_agent", "failed", task, None, fails["raised"])
    # The failed call's error as the client raised it (streamed: the SDK's wrapper's data).
    error = f"Error: 503 {S.MODEL_ERROR}" if streamed else f"503 {S.MODEL_ERROR}"
    assert [(s[0], s[4], s[5]) for s in run_steps(module_collector, failed[0])] == [
        ("think", "error", error)
    ]

    limit = expected["limit"]
    assert limit["raised"] == f"MaxTurnsExceededError: Max turns ({limit['max_turns']}) exceeded"
    run = runs[limit["task"]]
    assert run[1:6] == ("weather_agent", "max_steps", limit["task"], None, limit["raised"])
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * limit["max_turns"]
    assert limit["model_calls_served"] == limit["max_turns"]

    sub = expected["sub_agent"]
    parent, child = runs[sub["task"]], runs[sub["sub_task"]]
    assert parent[1:7] == ("manager", "completed", sub["task"], sub["answer"], None, None)
    steps = run_steps(module_collector, parent[0])
    assert [(s[0], s[1]) for s in steps] == [("think", None), ("tool_call", "ask_converter"),
                                             ("think", None)]  # fmt: skip
    assert json.loads(steps[1][2]) == {"input": sub["sub_task"]} and steps[1][3] == child[4]
    assert parent[8:10] == (sub["input_tokens"], sub["output_tokens"])
    (converted,) = sub["sub_tools"]
    assert child[1:7] == ("converter", "completed", sub["sub_task"], "64.4F", None, parent[0])
    child_steps = run_steps(module_collector, child[0])
    assert [(s[0], s[1], s[3]) for s in child_steps] == [
        ("think", None, None),
        ("tool_call", "to_fahrenheit", converted["result"]),
        ("think", None, None),
    ]
