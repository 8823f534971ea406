"""The conversation shapes of test_captured_sessions.py on AG2 0.x's classic pair (traced
by AG2's own ``autogen.opentelemetry`` and by OpenInference), DSPy's ``ReAct`` (captured
with capture_sessions_more.py), the Vercel AI SDK's ``generateText`` and a Mastra
``Agent`` (captured with capture_sessions_node.py; each says the versions): a session of two chats,
the second keeping the first's history; two tool calls in one turn with one raising; tools
answering an empty, a structured and a very long result; a tool called with a wrong
argument and a tool the agent does not have, each time told and called right. Each run is
read against what the framework returned (``sessions_<framework>.expected.json``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import sessions_scenario as S
from tests.frameworks.captured_runs import (
    body_of,
    expected_of,
    run_steps,
    runs_by_task,
    send_capture,
)
from tests.frameworks.test_captured_sessions import _value

AG2 = ("ag2_native", "ag2_openinference")
FRAMEWORKS = (*AG2, "dspy", "ai_sdk", "mastra", "openai_agents_js")
AG2_SHAPES = ("parallel", "results", "bad_args", "unknown_tool", "greeting", "followup")
SHAPES = {
    "ag2_native": AG2_SHAPES,
    "ag2_openinference": AG2_SHAPES,
    "dspy": ("results", "bad_args", "unknown_tool"),
    "ai_sdk": ("parallel", "results", "bad_args", "unknown_tool", "history"),
    "mastra": ("parallel", "results", "bad_args", "unknown_tool", "history"),
    "openai_agents_js": ("parallel", "results", "bad_args", "unknown_tool", "history"),
}
# Mastra runs no tool span for a tool it does not have, and its model-step spans record the
# result sent back as ``[tool-result: get_wether]`` only: no span tells what it said.
UNTOLD = (("mastra", "unknown_tool"),)
# The Agents SDK for JS tells the model a fixed text for a tool that failed, its error
# redacted: the step has that text, not the validation error.
GENERIC_TOOL_ERRORS = ("openai_agents_js",)
MARKERS = {
    "dspy": "[sessions-dspy]",
    "ai_sdk": "[sessions-ai_sdk]",
    "mastra": "[sessions-mastra]",
    "openai_agents_js": "[sessions-openai_agents_js]",
}


def _runs(collector: CollectorHandle, framework: str) -> dict[str, tuple[Any, ...]]:
    """The capture's runs by shape."""
    name = f"sessions_{framework}"
    body = body_of(name)
    send_capture(collector, body)
    shapes = SHAPES[framework]
    by_task = runs_by_task(collector, body, len(shapes), what=name)
    tasks = S.tasks_of(MARKERS.get(framework, "[sessions-ag2]"))
    return {shape: by_task[tasks[shape]] for shape in shapes}


def _tools(collector: CollectorHandle, run_id: str) -> list[tuple[Any, ...]]:
    return [s for s in run_steps(collector, run_id) if s[0] == "tool_call"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_run_completed_with_what_the_framework_returned(
    module_collector: CollectorHandle, framework: str
) -> None:
    runs = _runs(module_collector, framework)
    returned = expected_of(f"sessions_{framework}")["sessions"]
    for shape, run in runs.items():
        seen = returned[shape]
        if seen["raised"] is not None:
            # DSPy's ReAct rejects a tool name it does not have when parsing the model's
            # turn: the run raises AdapterParseError, and fails on it.
            assert (run[2], run[3], run[4]) == ("failed", seen["task"], None), shape
            assert run[5].split(":")[0] == seen["raised"].split(":")[0], shape
            continue
        assert (run[2], run[3], run[4], run[5]) == (
            "completed",
            returned[shape]["task"],
            returned[shape]["answer"],
            None,
        ), shape


@pytest.mark.parametrize("framework", AG2)
def test_ag2_tool_calls_read_as_the_chat_ran_them(
    module_collector: CollectorHandle, framework: str
) -> None:
    """Two calls in one reply, the second raising: both steps after the model call that
    asked, the failed one with the ``Error: ...`` text AG2 sent the model, then the
    answering call; an empty result empty, the records AG2's repr of them, the long log
    whole; the session's second chat only its own model calls and tokens (its first
    chat's messages come before, not in it)."""
    runs = _runs(module_collector, framework)
    steps = run_steps(module_collector, runs["parallel"][0])
    assert [s[0] for s in steps] == ["think", "tool_call", "tool_call", "think"]
    paris, atlantis = sorted(steps[1:3], key=lambda s: json.loads(s[2])["city"] != "Paris")
    assert [(s[1], json.loads(s[2]), s[4]) for s in (paris, atlantis)] == [
        ("get_weather", {"city": "Paris"}, "ok"),
        ("get_weather", {"city": S.MISSING_CITY}, "error"),
    ]
    assert _value(paris[3]) == {"city": "Paris", "celsius": 18, "sky": "sunny"}
    assert atlantis[3] == f"Error: {S.NO_CITY}" and atlantis[5]
    assert [(s[6], s[7]) for s in steps if s[0] == "think"] == [
        (f"{S.MODEL}-served", 80),
        (f"{S.MODEL}-served", 120),
    ]
    assert runs["parallel"][7:10] == (4, 80 + 120, 14 + 30)

    steps = run_steps(module_collector, runs["results"][0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * 3 + ["think"]
    empty, listing, log = _tools(module_collector, runs["results"][0])
    assert (empty[1], json.loads(empty[2]), empty[3], empty[4]) == (
        "nothing",
        {"key": "empty"},
        "",
        "ok",
    )
    assert (listing[1], _value(listing[3]), listing[4]) == ("list_files", S.LISTING, "ok")
    assert (log[1], log[3], log[4]) == ("read_log", S.LONG_TEXT, "ok")
    assert runs["results"][7:10] == (7, 61 + 62 + 63 + 120, 4 * 3 + 30)

    first = run_steps(module_collector, runs["greeting"][0])
    assert [(s[0], s[7]) for s in first] == [("think", 120)]
    second = run_steps(module_collector, runs["followup"][0])
    assert [s[0] for s in second] == ["think", "tool_call", "think"]
    assert (second[1][1], json.loads(second[1][2]), _value(second[1][3])) == (
        "get_weather",
        {"city": "Zürich"},
        S.ZURICH,
    )
    assert runs["followup"][7:10] == (3, 200 + 120, 9 + 30)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_wrong_call_is_a_failed_step_then_the_right_one(
    module_collector: CollectorHandle, framework: str
) -> None:
    """A call with an argument the tool does not take is a failed step with the error the
    framework met (AG2's validation error, as it told the model; DSPy's ``ValueError``;
    Mastra's ``Tool input validation failed``, its tool span's OK result; the Agents SDK for
    JS's fixed text, its tool span without the arguments: those the model call asked with),
    then the right call; a tool the agent does not have is a failed step with the framework's
    message naming it (DSPy's run fails before: read by the first test). The AI SDK runs no
    tool span for either: both are read from the next model call's messages, the SDK's
    ``error-text`` results of those calls."""
    runs = _runs(module_collector, framework)
    returned = expected_of(f"sessions_{framework}")["sessions"]
    for shape, told in (("bad_args", "town"), ("unknown_tool", S.UNKNOWN_TOOL)):
        if returned[shape]["raised"] is not None or (framework, shape) in UNTOLD:
            continue
        wrong, right = _tools(module_collector, runs[shape][0])[:2]
        name = "get_weather" if shape == "bad_args" else S.UNKNOWN_TOOL
        args = {"town": "Paris"} if shape == "bad_args" else {"city": "Paris"}
        assert (wrong[1], json.loads(wrong[2]), wrong[4]) == (name, args, "error"), shape
        if framework in GENERIC_TOOL_ERRORS:
            told = "error"
        assert told in ((wrong[3] or "") + (wrong[5] or "")), shape
        right_call = (right[1], json.loads(right[2]), right[4])
        assert right_call == ("get_weather", {"city": "Paris"}, "ok"), shape
        assert _value(right[3]) == {"city": "Paris", "celsius": 18, "sky": "sunny"}
        if framework != "dspy":  # DSPy's ends with its ``finish`` tool and one more call
            steps = run_steps(module_collector, runs[shape][0])
            assert [s[0] for s in steps] == ["think", "tool_call"] * 2 + ["think"], shape
    # DSPy's ReAct answers through its ``finish`` tool: the empty result and the log too.
    if framework == "dspy":
        tools = _tools(module_collector, runs["results"][0])
        assert [(t[1], t[3]) for t in tools[:3]] == [
            ("nothing", ""),
            ("list_files", json.dumps(S.LISTING)),
            ("read_log", S.LONG_TEXT),
        ]
        assert tools[3][1] == "finish"
