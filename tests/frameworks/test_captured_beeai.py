"""BeeAI Framework as it really traced a ``RequirementAgent`` (``captured/capture_beeai.py``,
which says the versions), sent over the wire to a real collector and read against what BeeAI
returned: the agent's steps (``state.steps``), its answer through ``final_answer``, a failed
model call explained with its cause, and ``max_iterations``."""

from __future__ import annotations

import json

from tests.conftest import CollectorHandle
from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured_runs import capture_runs, expected_of, run_steps

EXPECTED = expected_of("beeai")


def test_a_requirement_agent_reads_as_beeai_reported(module_collector: CollectorHandle) -> None:
    runs = capture_runs(module_collector, "beeai", 2)
    done = EXPECTED["success"]
    run = runs[done["task"]]
    assert run[1:7] == ("WeatherAgent", "completed", done["task"], done["answer"], None, None)
    steps = run_steps(module_collector, run[0])
    calls = [s for s in steps if s[0] == "think"]
    assert len(calls) == done["model_calls"]
    assert all(s[4] == "ok" and s[6] == "scripted-beeai" and s[7] for s in calls)
    assert (run[8], run[9]) == (sum(s[7] for s in calls), 10 + 11 + 12 + 13)
    # BeeAI's steps, in order: each tool after the model call that asked for it; its
    # final_answer tool is the run's response step.
    acted = [s for s in steps if s[0] != "think"]
    assert [s[0] for s in acted] == ["tool_call"] * (len(done["steps"]) - 1) + ["response"]
    assert steps[0][0] == "think" and steps[-1][0] == "response"
    for row, step in zip(acted, done["steps"], strict=True):
        assert (row[1], json.loads(row[2])) == (step["name"], step["args"])
        if step["error"]:
            # The span says "Tool Error"; BeeAI's explanation names the cause.
            assert (row[3], row[4]) == (None, "error")
            assert row[5] == f"ToolError: Tool Error; caused by TimeoutError: {S.WEATHER_ERROR}"
        else:
            assert (row[3], row[4], row[5]) == (step["result"], "ok", None)

    failing = EXPECTED["fails"]
    run = runs[failing["task"]]
    assert run[1:5] == ("WeatherAgent", "failed", failing["task"], None)
    assert run[5].startswith("ChatModelError: Chat Model error; caused by ")
    assert S.MODEL_ERROR in run[5]
    # The client's retries are inside the one model call's span.
    assert [(s[0], s[4], s[5]) for s in run_steps(module_collector, run[0])] == [
        ("think", "error", run[5])
    ]


def test_max_iterations_is_max_steps(module_collector: CollectorHandle) -> None:
    shape = EXPECTED["shapes"]["max_iterations"]
    run = capture_runs(module_collector, "beeai_shapes", 1)[shape["task"]]
    assert run[1:6] == ("LimitedAgent", "max_steps", shape["task"], None, shape["raised"])
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * shape["model_calls"]
    assert all(s[4] == "ok" for s in steps)
