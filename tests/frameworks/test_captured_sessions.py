"""Conversation shapes as Agno, AutoGen, LlamaIndex and CrewAI really traced them, and fewer
of them as pydantic-ai, the Agents SDK, LangGraph, smolagents, Strands, Google ADK and
Haystack did (captured with capture_sessions.py, which says the versions): a session of two
runs, a run given an earlier exchange as messages, two tool calls in one turn with one
raising, tools answering an empty, a structured and a very long result, a structured
answer, an agent run from another's tool, a streamed run calling a tool, a tool called with
a wrong argument, a tool the agent does not have, and a structured answer that is no JSON.
Each run is read against what the framework returned (``sessions_<framework>.expected.json``)
and the script the model followed, as the framework's own log tells it."""

from __future__ import annotations

import ast
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
    settled_runs,
)

VENV_FRAMEWORKS = ("agno", "autogen", "llamaindex", "crewai")
# These play fewer shapes (sessions_core_agents.py and the virtualenv ones
# of sessions_openinference_agents.py and sessions_genai_agents.py).
CORE_FRAMEWORKS = (
    "pydantic_ai",
    "openai_agents",
    "langgraph",
    "smolagents",
    "strands",
    "google_adk",
    "haystack",
    "semantic_kernel",
    "beeai",
    "agent_framework",
)
FRAMEWORKS = VENV_FRAMEWORKS + CORE_FRAMEWORKS
RETRIES = ("bad_args", "unknown_tool", "bad_structured")
CORE_SHAPES = ("parallel", "results", "bad_args", "unknown_tool", "history")
SHAPES = {
    # CrewAI has no session, and no agent run from a tool here.
    "crewai": ("parallel", "results", "structured", "history", "streamed", *RETRIES),
    "pydantic_ai": CORE_SHAPES,
    "openai_agents": CORE_SHAPES,
    "langgraph": CORE_SHAPES,
    # smolagents' runs take a task, no earlier exchange.
    "smolagents": CORE_SHAPES[:-1],
    "strands": CORE_SHAPES,
    # ADK's runs take one message: its session in place of an earlier exchange.
    "google_adk": ("greeting", "followup", *CORE_SHAPES[:-1]),
    "haystack": CORE_SHAPES,
    "semantic_kernel": CORE_SHAPES,
    "beeai": CORE_SHAPES,
    "agent_framework": CORE_SHAPES,
}
ALL_SHAPES = (
    "greeting",
    "followup",
    "parallel",
    "results",
    "structured",
    "nested",
    "history",
    "streamed",
    *RETRIES,
)
# Calls the framework answered without a tool span and no rule reads yet: smolagents tells
# the model an error observation with neither the call's name nor its id.
UNTOLD = {
    "smolagents": ("bad_args", "unknown_tool"),
    # Semantic Kernel refuses both before any tool span, and its model-call spans hold no
    # messages: no span records the call.
    "semantic_kernel": ("bad_args", "unknown_tool"),
    # BeeAI's instrumentor failed on the model call that asked for the unknown tool (its
    # span is missing) and the agent asked again without telling the model.
    "beeai": ("unknown_tool",),
}
# The model each framework's model-call spans name (the served one where they record it).
MODELS = {
    "crewai": f"{S.MODEL}-served",
    "pydantic_ai": f"{S.MODEL}-served",
    "langgraph": f"{S.MODEL}-served",
    "haystack": f"{S.MODEL}-served",
    "agent_framework": f"{S.MODEL}-served",
}
# AutoGen's client streams without asking the server for usage: it counts no tokens.
UNCOUNTED_STREAMS = ("autogen",)
# The Agents SDK tells the model a fixed text for a tool that raised, not its error.
GENERIC_TOOL_ERRORS = ("openai_agents", "agent_framework")
# A failed call's span or message records its error only, not what the model was told:
# Haystack's calls are read from the messages (no tool span), Semantic Kernel's and BeeAI's
# tool spans record the exception.
TOLD_ERRORS_ONLY = ("haystack", "semantic_kernel", "beeai")
# The plugin a framework's tools are called under.
TOOL_PLUGINS = {"semantic_kernel": "Session"}
# Semantic Kernel's agent span records no input messages for a run asked a text, and its
# model calls none: its runs have no task.
TASKLESS = ("semantic_kernel",)
# A Haystack Agent outside a pipeline has no name but its class's.
AGENT_NAMES = {"haystack": "Agent"}
CUT_MARK = "\n…[truncated by agent-audit: "


def _shapes(framework: str) -> tuple[str, ...]:
    return SHAPES.get(framework, ALL_SHAPES)


def _runs(collector: CollectorHandle, framework: str) -> dict[str, tuple[Any, ...]]:
    """The capture's runs by shape (the nested shape's child as ``child``)."""
    name = f"sessions_{framework}"
    body = body_of(name)
    send_capture(collector, body)
    shapes = _shapes(framework)
    count = len(shapes) + ("nested" in shapes)
    if framework in TASKLESS:  # the shapes ran one after another, as the expectations list
        returned = [shape for shape in expected_of(name)["sessions"] if shape in shapes]
        return dict(zip(returned, settled_runs(collector, body, count, what=name), strict=True))
    by_task = runs_by_task(collector, body, count, what=name)
    tasks = S.tasks_of(f"[sessions-{framework}]")
    # The run given an earlier exchange by its answer: its task is what a test checks.
    runs = {shape: by_task[tasks[shape]] for shape in shapes if shape != "history"}
    if "history" in shapes:
        runs["history"] = next(r for r in by_task.values() if r[4] == S.HISTORY_ANSWER)
    if "nested" in shapes:
        runs["child"] = by_task[tasks["child"]]
    assert len(runs) == count, sorted(by_task)
    return runs


def _value(text: str) -> Any:
    """A tool's structured result as the framework wrote it: JSON, or the Python repr the
    framework handed the model."""
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def _answer(returned: dict[str, Any]) -> Any:
    """What the caller got (Agno's RunOutput as its content)."""
    answer = returned["answer"]
    return answer["content"] if isinstance(answer, dict) and "content" in answer else answer


def _tool(framework: str, name: str) -> str:
    """The name the model calls a tool by (Semantic Kernel's ``{plugin}-{function}``)."""
    return f"{TOOL_PLUGINS[framework]}-{name}" if framework in TOOL_PLUGINS else name


def _model(framework: str) -> str:
    return MODELS.get(framework, S.MODEL)


def _steps(collector: CollectorHandle, run_id: str) -> list[tuple[Any, ...]]:
    """The run's steps but smolagents' ``final_answer`` tool, its way to answer."""
    return [s for s in run_steps(collector, run_id) if s[0] != "response"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_run_is_its_own_question_and_answer(
    module_collector: CollectorHandle, framework: str
) -> None:
    """A session's second run is its own question, not the first run's (the history it was
    sent comes before); a run given an earlier exchange as messages is the question after
    it; a structured answer is the object the framework parsed; every run completed with
    what the framework returned."""
    runs = _runs(module_collector, framework)
    returned = expected_of(f"sessions_{framework}")["sessions"]
    tasks = S.tasks_of(f"[sessions-{framework}]")
    for shape in _shapes(framework):
        run = runs[shape]
        if shape in RETRIES or (shape == "parallel" and returned[shape]["raised"]):
            continue  # read by the tests of retries and of tool calls
        assert returned[shape]["raised"] is None, (shape, returned[shape])
        assert (run[1], run[2], run[3], run[5]) == (
            AGENT_NAMES.get(framework, "session_agent"),
            "completed",
            None if framework in TASKLESS else tasks[shape],
            None,
        ), shape
        if shape == "structured":
            got = _answer(returned[shape])
            assert json.loads(run[4]) == S.STRUCTURED
            assert (json.loads(got) if isinstance(got, str) else got) == S.STRUCTURED
        else:
            assert run[4] == _answer(returned[shape]), shape
    if "history" in runs and framework not in TASKLESS:
        assert runs["history"][3:5] == (S.HISTORY_QUESTION, S.HISTORY_ANSWER)
    if "followup" in runs:
        assert (runs["greeting"][3], runs["followup"][3]) == (tasks["greeting"], S.FOLLOWUP)
        assert (runs["greeting"][4], runs["followup"][4]) == (S.GREETING_ANSWER, S.FOLLOWUP_ANSWER)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_tool_calls_read_as_the_framework_ran_them(
    module_collector: CollectorHandle, framework: str
) -> None:
    """Two calls in one turn, the second raising: both steps after the model call that
    asked, the failed one with the tool's error, and the model's answer after; an empty
    result is empty, a list of records the records, a long text whole (or, where the span
    held it more than once and went over the size limit, its start and the cut mark); a
    session's second run has its own model calls with their tokens."""
    runs = _runs(module_collector, framework)
    model = _model(framework)

    steps = _steps(module_collector, runs["parallel"][0])
    raised = expected_of(f"sessions_{framework}")["sessions"]["parallel"]["raised"]
    if raised:
        # ADK lets a tool's exception out of the run: it fails on it, no answer.
        assert (runs["parallel"][2], runs["parallel"][4]) == ("failed", None)
        assert S.NO_CITY in runs["parallel"][5]
    thinks = [(model, 80)] if raised else [(model, 80), (model, 120)]
    assert [s[0] for s in steps] == ["think", "tool_call", "tool_call", "think"][: len(thinks) + 2]
    # Made at once, the two calls may start in either order.
    paris, atlantis = sorted(
        (s for s in steps if s[0] == "tool_call"), key=lambda s: json.loads(s[2])["city"] != "Paris"
    )
    assert [(s[1], json.loads(s[2]), s[4]) for s in (paris, atlantis)] == [
        (_tool(framework, "get_weather"), {"city": "Paris"}, "ok"),
        (_tool(framework, "get_weather"), {"city": S.MISSING_CITY}, "error"),
    ]
    assert _value(paris[3]) == {"city": "Paris", "celsius": 18, "sky": "sunny"}
    if framework in GENERIC_TOOL_ERRORS:
        assert atlantis[3] and atlantis[5] and "Paris" not in atlantis[3]
    elif raised or framework in TOLD_ERRORS_ONLY:  # ADK: the run ended on the error
        assert S.NO_CITY in atlantis[5] and atlantis[3] is None
    else:
        assert S.NO_CITY in atlantis[5] and S.NO_CITY in atlantis[3]
    assert [(s[6], s[7]) for s in steps if s[0] == "think"] == thinks

    steps = _steps(module_collector, runs["results"][0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * 3 + ["think"]
    empty, listing, log = (s for s in steps if s[0] == "tool_call")
    assert (empty[1], json.loads(empty[2]), empty[4]) == (
        _tool(framework, "nothing"),
        {"key": "empty"},
        "ok",
    )
    # Agent Framework's span writes it as its content items' reprs: it is what the model
    # was sent.
    assert empty[3] == ""
    assert (listing[1], _value(listing[3]), listing[4]) == (
        _tool(framework, "list_files"),
        S.LISTING,
        "ok",
    )
    assert (log[1], log[4]) == (_tool(framework, "read_log"), "ok")
    if CUT_MARK in log[3]:
        kept = log[3][: log[3].index(CUT_MARK)]
        assert len(kept) > 1000 and S.LONG_TEXT.startswith(kept)
    else:
        assert log[3] == S.LONG_TEXT
    assert runs["results"][8:10] == (61 + 62 + 63 + 120, 4 * 3 + 30)
    assert runs["results"][7] == len(run_steps(module_collector, runs["results"][0]))

    if "followup" in runs:
        first = _steps(module_collector, runs["greeting"][0])
        assert [(s[0], s[6], s[7]) for s in first] == [("think", model, 120)]
        second = _steps(module_collector, runs["followup"][0])
        assert [s[0] for s in second] == ["think", "tool_call", "think"]
        assert (second[1][1], json.loads(second[1][2]), _value(second[1][3])) == (
            "get_weather",
            {"city": "Zürich"},
            S.ZURICH,
        )
        assert runs["followup"][7:10] == (3, 200 + 120, 9 + 30)


@pytest.mark.parametrize("framework", VENV_FRAMEWORKS)
def test_a_streamed_run_and_an_agent_in_a_tool(
    module_collector: CollectorHandle, framework: str
) -> None:
    """A streamed run: its model call asking for the tool, the tool, the answering call,
    their tokens as the server counted them (unknown where the client asked for none, not
    zero); an agent run from another agent's tool is that run's child, with its own
    question and answer, and the tool's result what the child answered."""
    runs = _runs(module_collector, framework)
    model = _model(framework)
    steps = _steps(module_collector, runs["streamed"][0])
    assert [s[0] for s in steps] == ["think", "tool_call", "think"]
    assert (steps[1][1], json.loads(steps[1][2]), _value(steps[1][3])) == (
        "get_weather",
        {"city": "Oslo"},
        {"city": "Oslo", "celsius": 18, "sky": "sunny"},
    )
    counted = framework not in UNCOUNTED_STREAMS
    tokens = [(model, 90), (model, 120)] if counted else [(model, None), (model, None)]
    assert [(s[6], s[7]) for s in steps if s[0] == "think"] == tokens
    assert runs["streamed"][7:10] == ((3, 210, 38) if counted else (3, None, None))

    if "nested" not in runs:
        return
    outer, child = runs["nested"], runs["child"]
    tasks = S.tasks_of(f"[sessions-{framework}]")
    assert (child[1], child[2], child[3], child[4], child[6]) == (
        "child_agent",
        "completed",
        tasks["child"],
        S.CHILD_ANSWER,
        outer[0],
    )
    steps = _steps(module_collector, outer[0])
    assert [s[0] for s in steps] == ["think", "tool_call", "think"]
    tool = steps[1]
    assert json.loads(tool[2]) in ({"question": tasks["child"]}, {"task": tasks["child"]})
    assert S.CHILD_ANSWER in tool[3] and tool[4] == "ok"
    assert outer[4] == S.NESTED_ANSWER


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_retries_after_an_error_read_as_the_framework_told_the_model(
    module_collector: CollectorHandle, framework: str
) -> None:
    """A call with a wrong argument is a failed step with what the framework told the model
    (its validation error), then the right call; a call of a tool the agent does not have
    (no tool span runs) is a failed step with the framework's message, its arguments those
    the model gave; a structured answer that is no JSON is the agent's text where the
    framework goes on with it, a failed run where it raises (AutoGen's ValidationError), and
    never the text of a conversion that failed (LlamaIndex's ``output_cls``)."""
    runs = _runs(module_collector, framework)
    returned = expected_of(f"sessions_{framework}")["sessions"]
    for shape, tokens in (("bad_args", 71), ("unknown_tool", 72)):
        run, seen = runs[shape], returned[shape]
        if seen["raised"] is not None:
            # The Agents SDK stops at a tool it does not have: the run fails on it.
            assert (run[2], run[4]) == ("failed", None) and S.UNKNOWN_TOOL in run[5], shape
            continue
        assert (run[2], run[4], run[5]) == ("completed", S.RETRIED_ANSWER, None), shape
        assert _answer(seen) == S.RETRIED_ANSWER
        steps = _steps(module_collector, run[0])
        if shape in UNTOLD.get(framework, ()):
            continue
        kinds = ["think", "tool_call", "think", "tool_call", "think"]
        assert [s[0] for s in steps] == kinds, shape
        wrong, right = steps[1], steps[3]
        name = _tool(framework, "get_weather" if shape == "bad_args" else S.UNKNOWN_TOOL)
        args = {"town": "Paris"} if shape == "bad_args" else {"city": "Paris"}
        assert (wrong[1], json.loads(wrong[2]), wrong[4]) == (name, args, "error"), shape
        told = (wrong[5] or "").lower()
        assert any(word in told for word in ("town", S.UNKNOWN_TOOL, "tool", "argument"))
        assert (right[1], json.loads(right[2]), right[4]) == (
            _tool(framework, "get_weather"),
            {"city": "Paris"},
            "ok",
        )
        # Its steps counted with an answer tool's (BeeAI's ``final_answer``).
        assert run[7:10] == (len(run_steps(module_collector, run[0])), tokens + 81 + 120, 90)
    if "bad_structured" not in runs:
        return
    run, seen = runs["bad_structured"], returned["bad_structured"]
    if seen["raised"] is not None:
        assert run[2] == "failed" and run[4] is None
        assert run[5].split(":")[0] == seen["raised"].split(":")[0]
    else:
        assert (run[2], run[4], run[5]) == ("completed", S.NOT_JSON, None)
