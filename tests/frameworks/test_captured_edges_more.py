"""Edge shapes as the frameworks without an edges capture of their own really traced them
(captured with capture_edges_more.py, which says the versions): a model that declines, a
provider's content filter, a run of 50 tool calls, hostile text in a tool's arguments and
result, a tool that raises, a model endpoint answering HTTP 500, and a run cancelled while a
tool runs. Each run is read against what the framework returned
(``edges_<framework>.expected.json``), as its own logs tell it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import edges_more_scenario as M
from tests.frameworks.captured import edges_scenario as E
from tests.frameworks.captured.capture_edges_more import SPAN_ATTRIBUTE_COUNT
from tests.frameworks.captured_runs import (
    body_of,
    expected_of,
    run_steps,
    send_capture,
    settled_runs,
)

FRAMEWORKS = (
    "crewai",
    "llamaindex",
    "autogen",
    "agno",
    "semantic_kernel",
    "agent_framework",
    "haystack",
    "dspy",
    "beeai",
    "ai_sdk",
    "mastra",
)
# CrewAI, Haystack and DSPy run synchronously: no cancelled run.
ASYNC = (
    "llamaindex",
    "autogen",
    "agno",
    "semantic_kernel",
    "agent_framework",
    "beeai",
    "ai_sdk",
    "mastra",
)
# An Agent component has no name, nor a DSPy program: their class.
AGENTS = {"haystack": "Agent", "dspy": "ReAct"}
# The steps after the model's answer: BeeAI's RequirementAgent answers through its
# final_answer tool; DSPy's ReAct calls its finish tool, then extracts the answer.
ENDINGS = {
    "beeai": [("response", "final_answer")],
    "dspy": [("tool_call", "finish"), ("think", None)],
}
# The model each framework's model-call spans name (the served one where they record it).
MODELS = {
    "crewai": "scripted-edges-served",
    "llamaindex": "scripted-edges",
    "autogen": "scripted-edges",
    "agno": "scripted-edges",
    "semantic_kernel": "scripted-edges",
    "agent_framework": "scripted-edges-served",
    "haystack": "scripted-edges-served",
    "dspy": "scripted-edges",
    "beeai": "scripted-edges",
    "ai_sdk": "scripted-edges-served",
    "mastra": "scripted-edges-served",
}
# The Node.js OpenTelemetry SDK starts spans on a millisecond clock.
MS_CLOCKS = ("ai_sdk", "mastra")
# DSPy's spans record no token counts.
UNCOUNTED = ("dspy",)
# The tool calls a run may make before its framework stops calling tools: Semantic Kernel's
# maximum_auto_invoke_attempts (5), Agent Framework's max_iterations (40 model calls).
TOOL_LIMITS = {"semantic_kernel": 5, "agent_framework": 40}


def _tool(framework: str, name: str) -> str:
    """The name the model calls a tool by (Semantic Kernel's ``{plugin}-{function}``)."""
    return f"Edge-{name}" if framework == "semantic_kernel" else name


def _runs(collector: CollectorHandle, framework: str) -> dict[str, tuple[Any, ...]]:
    """The capture's runs by shape: the shapes ran one after another, in the order the
    expectations list them (Semantic Kernel's spans hold no task to match them by)."""
    name = f"edges_{framework}"
    body = body_of(name)
    send_capture(collector, body)
    returned = expected_of(name)["edges"]
    rows = settled_runs(collector, body, len(returned), what=name)
    runs = dict(zip(returned, rows, strict=True))
    for shape, row in runs.items():
        assert row[3] in (returned[shape]["task"], None), (shape, row)
        assert row[1] == AGENTS.get(framework, "edge_agent")
    return runs


def test_the_captures_keep_as_many_attributes_as_configure() -> None:
    from instrumentation.setup import SPAN_ATTRIBUTE_COUNT as CONFIGURED

    assert SPAN_ATTRIBUTE_COUNT == CONFIGURED


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_long_run_and_hostile_text_read_as_returned(
    module_collector: CollectorHandle, framework: str
) -> None:
    """50 tool calls, one a turn: each a step in order with its result, each model call
    with its model and tokens; where the framework stops calling tools at its limit first,
    the run is ``max_steps``. A tool's arguments and result made of quotes, markup, bidi
    controls, emoji, a NUL and CR/LF are kept as the framework sent and returned them."""
    runs = _runs(module_collector, framework)
    returned = expected_of(f"edges_{framework}")["edges"]
    ticks = TOOL_LIMITS.get(framework, E.LONG_CALLS)
    limited = framework in TOOL_LIMITS
    counted = framework not in UNCOUNTED
    run = runs["long"]
    if limited:
        # The last model call asked for a tool that never ran; the answer is the framework's.
        assert (run[2], run[4]) == ("max_steps", returned["long"]["answer"] or None)
        tokens = [100 + n for n in range(1, ticks + 2)]
    else:
        agno = {"content": E.LONG_ANSWER, "status": "RunStatus.completed"}
        assert returned["long"]["answer"] in (E.LONG_ANSWER, agno)
        assert (run[2], run[4]) == ("completed", E.LONG_ANSWER)
        tokens = [100 + n for n in range(1, ticks + 1)] + [120]
    assert run[5] is None
    steps = run_steps(module_collector, run[0])
    ending = [] if limited else ENDINGS.get(framework, [])
    kinds = ["think", "tool_call"] * ticks + ["think"] + [kind for kind, _ in ending]
    if framework in MS_CLOCKS:
        # A tool and the model call after it can start in the same millisecond: their order
        # is the store's tie-break, not the spans'. The tools' own order is checked below.
        assert sorted(s[0] for s in steps) == sorted(kinds)
    else:
        assert [s[0] for s in steps] == kinds
    # Each tool-asking call answers 5 tokens, the answering one the scripted default 30.
    output = 5 * ticks + (5 if limited else 30)
    assert run[7:10] == (len(steps), *((sum(tokens), output) if counted else (None, None)))
    tools = [(s[1], json.loads(s[2]), s[3], s[4]) for s in steps if s[0] == "tool_call"]
    tools = [t for t in tools if t[0] != "finish"]
    assert tools == [(_tool(framework, "tick"), {"n": n}, f"tick {n} counted", "ok")
                     for n in range(1, ticks + 1)]  # fmt: skip
    thinks = [(s[6], s[7]) for s in steps if s[0] == "think"]
    if counted and framework in MS_CLOCKS:
        assert sorted(thinks) == sorted((MODELS[framework], t) for t in tokens)
    elif counted:
        assert thinks == [(MODELS[framework], t) for t in tokens]
    else:
        assert thinks == [(MODELS[framework], None)] * len(thinks)

    run = runs["hostile"]
    # DSPy parses the answer out of its text format, a CR/LF read as a LF.
    answer = returned["hostile"]["answer"]
    answer = answer["content"] if isinstance(answer, dict) else answer  # Agno's RunOutput
    assert answer == E.HOSTILE_ANSWER or framework == "dspy"
    assert run[2:6] == ("completed", run[3], answer, None)
    lookups = [s for s in run_steps(module_collector, run[0]) if s[0] == "tool_call"]
    assert [(s[1], json.loads(s[2]), s[3], s[4]) for s in lookups if s[1] != "finish"] == [
        (_tool(framework, "lookup"), {"query": E.HOSTILE}, E.HOSTILE_RESULT, "ok")
    ]


# What each framework sends the model when a tool raises: the failed step's result. Semantic
# Kernel's spans hold no messages; Haystack's failed call keeps the text it sent as its error.
TOLD = {
    "crewai": f"Error executing tool: {M.RAISED} (code 1234)",
    "llamaindex": f"{M.RAISED} (code 1234)",
    "autogen": f"{M.RAISED} (code 1234)",
    "agno": f"{M.RAISED} (code 1234)",
    "semantic_kernel": None,
    "agent_framework": "Error: Function failed.",
    "haystack": None,
    # DSPy's ReAct writes "Execution error in open_vault:" and the traceback into its
    # trajectory; BeeAI's failed tool span holds its error's explanation.
    "dspy": None,
    "beeai": None,
    "ai_sdk": None,  # the SDK's tool-error text is the step's error
    "mastra": None,  # as the AI SDK's, which it runs on
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_raising_tool_is_a_failed_step_and_the_run_goes_on(
    module_collector: CollectorHandle, framework: str
) -> None:
    """The tool raises, the framework tells the model, the model answers: a completed run
    whose tool step failed with the tool's error and holds what the model was told."""
    run = _runs(module_collector, framework)["raises"]
    assert run[2:6] == ("completed", run[3], M.RAISES_ANSWER, None)
    steps = run_steps(module_collector, run[0])
    ending = [kind for kind, _ in ENDINGS.get(framework, [])]
    assert [s[0] for s in steps] == ["think", "tool_call", "think", *ending]
    tool = steps[1]
    assert (tool[1], json.loads(tool[2]), tool[3], tool[4]) == (
        _tool(framework, "open_vault"),
        {"code": "1234"},
        TOLD[framework],
        "error",
    )
    assert tool[5] is not None and f"{M.RAISED} (code 1234)" in tool[5], tool[5]


# CrewAI retries a failed model call twice (max_retry_limit).
FAILED_CALLS = {"crewai": 3}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_model_endpoint_answering_500_fails_the_run(
    module_collector: CollectorHandle, framework: str
) -> None:
    """Every model call answered HTTP 500: the run failed with the server's message and
    no answer, each call made a failed step."""
    run = _runs(module_collector, framework)["http_500"]
    seen = expected_of(f"edges_{framework}")["edges"]["http_500"]
    # Agno returns a run whose status is "error"; the others raise.
    assert seen["raised"] is not None or seen["answer"]["status"] == "RunStatus.error"
    assert (run[2], run[4]) == ("failed", None)
    assert run[5] is not None and M.SERVER_ERROR in run[5], run[5]
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[4]) for s in steps] == [("think", "error")] * FAILED_CALLS.get(framework, 1)
    assert all(M.SERVER_ERROR in s[5] for s in steps), steps


# (status, answer) of a declining model's run and of a filtered one's, as the framework
# returned them (CrewAI raises on both; Semantic Kernel and Agent Framework return the
# refusal's text; Semantic Kernel's filtered answer has no text at all).
DECLINED: dict[str, dict[str, tuple[str, str | None]]] = {
    "crewai": {"refusal": ("failed", None), "content_filter": ("failed", None)},
    "llamaindex": {"refusal": ("completed", ""), "content_filter": ("completed", "")},
    "autogen": {"refusal": ("completed", ""), "content_filter": ("completed", "")},
    "agno": {"refusal": ("completed", ""), "content_filter": ("completed", "")},
    "semantic_kernel": {"refusal": ("completed", E.REFUSAL), "content_filter": ("completed", None)},
    "agent_framework": {"refusal": ("completed", E.REFUSAL), "content_filter": ("completed", "")},
    "haystack": {"content_filter": ("completed", "")},
    # DSPy cannot parse an empty reply with either adapter: AdapterParseError.
    "dspy": {"refusal": ("failed", None), "content_filter": ("failed", None)},
    # BeeAI's model call fails to call a tool (tool_choice "required"), then the agent
    # answers "\"\"" through final_answer itself.
    "beeai": {"refusal": ("completed", '""'), "content_filter": ("completed", '""')},
    # The AI SDK returns the refusal's text; a filtered call records no text (it returns "").
    "ai_sdk": {"refusal": ("completed", E.REFUSAL), "content_filter": ("completed", None)},
    "mastra": {"refusal": ("completed", E.REFUSAL), "content_filter": ("completed", "")},
}
# The model calls of a run that failed on an empty reply: CrewAI retries it twice, DSPy's
# ChatAdapter falls back to its JSONAdapter once.
DECLINED_CALLS = {"crewai": 3, "dspy": 2}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_refusal_and_a_content_filter_read_as_returned(
    module_collector: CollectorHandle, framework: str
) -> None:
    runs = _runs(module_collector, framework)
    returned = expected_of(f"edges_{framework}")["edges"]
    for shape, (status, answer) in DECLINED[framework].items():
        run, seen = runs[shape], returned[shape]
        assert (run[2], run[4]) == (status, answer), (shape, run)
        steps = run_steps(module_collector, run[0])
        if status == "failed":
            assert seen["raised"] and run[5] and seen["raised"].endswith(run[5])
            assert [(s[0], s[4]) for s in steps] == [("think", "ok")] * DECLINED_CALLS[framework]
            continue
        assert run[5] is None and seen["raised"] is None
        if framework == "beeai":
            assert seen["answer"] == answer
            assert [(s[0], s[1], s[4]) for s in steps] == [
                ("think", None, "error"),
                ("response", "final_answer", "ok"),
            ]
            continue
        assert [(s[0], s[4]) for s in steps] == [("think", "ok")]
    if framework == "haystack":
        # The reply has no text, so the Agent asks again until max_agent_steps (150).
        run = runs["refusal"]
        assert returned["refusal"] == {"task": run[3], "answer": None, "raised": None}
        assert (run[2], run[5], run[7]) == ("max_steps", None, 3 * E.LONG_CALLS)


@pytest.mark.parametrize("framework", ASYNC)
def test_a_run_cancelled_in_a_tool_is_cancelled(
    module_collector: CollectorHandle, framework: str
) -> None:
    """The run's task cancelled while ``wait_forever`` runs (LlamaIndex: its handler's
    ``cancel_run``; the AI SDK and Mastra: their ``abortSignal`` aborted): the run is
    ``cancelled`` with no answer, its model call and the cut tool call its steps. Agno's tool
    span never ends (it is never exported): its run has only the model call that asked for
    the tool."""
    run = _runs(module_collector, framework)["cancelled"]
    seen = expected_of(f"edges_{framework}")["edges"]["cancelled"]
    assert seen["cancelled"]
    assert run[2:6] == ("cancelled", run[3], None, None)
    steps = run_steps(module_collector, run[0])
    # Mastra's exporter keeps only the abort's message (its exception type is "Error").
    error = "This operation was aborted" if framework == "mastra" else "cancelled"
    cut = [("tool_call", _tool(framework, "wait_forever"), {"seconds": 5}, None, error)]
    assert [(s[0], s[1], s[2] and json.loads(s[2]), s[3], s[5]) for s in steps] == [
        ("think", None, None, None, None),
        *(cut if framework != "agno" else []),
    ]


def test_mcp_tools_on_the_edges_read_as_returned(module_collector: CollectorHandle) -> None:
    """An Agents SDK agent whose tools an MCP server serves: 50 calls in order, hostile text
    through the protocol, a tool that raises on the server (answered ``isError``, its text
    masked by the server), a run cancelled while the server's tool runs. Each result is the
    content block the SDK returned; the cancelled call ends as the Agents SDK ends one
    (see test_captured_edges.py): the run says it."""
    name = "edges_mcp"
    body = body_of(name)
    send_capture(module_collector, body)
    returned = expected_of(name)["edges"]
    rows = settled_runs(module_collector, body, len(returned), what=name)
    runs = dict(zip(returned, rows, strict=True))

    def block(text: str) -> dict[str, str]:
        return {"type": "text", "text": text}

    run = runs["long"]
    assert run[1:6] == ("edge_agent", "completed", returned["long"]["task"], E.LONG_ANSWER, None)
    assert run[8:10] == (sum(100 + n for n in range(1, E.LONG_CALLS + 1)) + 120,
                         5 * E.LONG_CALLS + 30)  # fmt: skip
    steps = run_steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * E.LONG_CALLS + ["think"]
    assert [(s[1], json.loads(s[2]), json.loads(s[3])) for s in steps if s[0] == "tool_call"] == [
        ("tick", {"n": n}, block(f"tick {n} counted")) for n in range(1, E.LONG_CALLS + 1)
    ]

    run = runs["hostile"]
    assert run[2:5] == ("completed", returned["hostile"]["task"], E.HOSTILE_ANSWER)
    (lookup,) = [s for s in run_steps(module_collector, run[0]) if s[0] == "tool_call"]
    assert (lookup[1], json.loads(lookup[2]), json.loads(lookup[3]), lookup[4]) == (
        "lookup",
        {"query": E.HOSTILE},
        block(E.HOSTILE_RESULT),
        "ok",
    )

    run = runs["raises"]
    assert run[2:6] == ("completed", returned["raises"]["task"], M.RAISES_ANSWER, None)
    steps = run_steps(module_collector, run[0])
    masked = "Error executing tool open_vault"
    assert [(s[0], s[1], s[3] and json.loads(s[3]), s[4], s[5]) for s in steps] == [
        ("think", None, None, "ok", None),
        ("tool_call", "open_vault", block(masked), "error", masked),
        ("think", None, None, "ok", None),
    ]

    run = runs["cancelled"]
    assert returned["cancelled"]["cancelled"]
    assert run[2:6] == ("cancelled", returned["cancelled"]["task"], None, None)
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[1], s[3], s[5]) for s in steps] == [
        ("think", None, None, None),
        ("tool_call", "wait_forever", None, None),
    ]
