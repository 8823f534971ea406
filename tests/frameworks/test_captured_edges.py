"""Edge shapes as each framework really traced them (captured with capture_edges.py, which
says the versions): a model that declines, a provider's content filter, a run of 50 tool
calls, hostile text in a tool's arguments and result, a run cancelled while a tool runs,
and for the OpenAI Agents SDK a hand-off chain of three agents. Each run is read against
what the framework returned (``edges_<framework>.expected.json``), as its own logs tell it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import edges_scenario as E
from tests.frameworks.captured_runs import (
    body_of,
    expected_of,
    run_steps,
    runs_by_task,
    send_capture,
    settled_runs,
)

FRAMEWORKS = (
    "pydantic_ai",
    "openai_agents",
    "langgraph",
    "langgraph_openllmetry",
    "strands",
    "google_adk",
    "smolagents",
)
# ADK runs here on the tests' own chat-completions adapter: no refusal or filter shapes.
DECLINING = tuple(f for f in FRAMEWORKS if f != "google_adk")
# The model each framework's model-call spans name: OpenInference's Agents SDK spans record
# only the one asked for, smolagents' and Strands' too.
MODELS = {
    "pydantic_ai": "scripted-edges-served",
    "openai_agents": "scripted-edges",
    "langgraph": "scripted-edges-served",
    "langgraph_openllmetry": "scripted-edges-served",
    "strands": "scripted-edges",
    "google_adk": "scripted-edges",
    "smolagents": "scripted-edges",
}
# How many runs each capture holds: smolagents runs synchronously (no cancelled run); the
# Agents SDK's hand-off chain is three runs.
RUNS = {
    "pydantic_ai": 5,
    "openai_agents": 8,
    "langgraph": 5,
    "langgraph_openllmetry": 5,
    "strands": 5,
    "google_adk": 3,
    "smolagents": 4,
}
# The long run's tokens: one call per tick, then the answer's (the scripted default 120 / 30).
LONG_INPUT = sum(100 + n for n in range(1, E.LONG_CALLS + 1)) + 120
LONG_OUTPUT = 5 * E.LONG_CALLS + 30


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_long_run_and_hostile_text_read_as_returned(
    module_collector: CollectorHandle, framework: str
) -> None:
    """A run of 50 tool calls is one completed run of 101 steps in order (smolagents adds
    its final_answer step), each model call with its model and tokens; a tool's arguments
    and result made of quotes, markup, bidi controls, emoji, a NUL and CR/LF are kept as
    the framework sent and returned them."""
    name = f"edges_{framework}"
    body = body_of(name)
    send_capture(module_collector, body)
    returned = expected_of(name)["edges"]
    runs = runs_by_task(module_collector, body, RUNS[framework], what=name)
    answers = [] if framework != "smolagents" else ["response"]

    long = returned["long"]
    assert long["answer"] == E.LONG_ANSWER
    run = runs[long["task"]]
    steps = run_steps(module_collector, run[0])
    kinds = ["think", "tool_call"] * E.LONG_CALLS + ["think", *answers]
    assert run[1:8] == ("edge_agent", "completed", long["task"], E.LONG_ANSWER, None, None,
                        len(kinds))  # fmt: skip
    assert run[8:10] == (LONG_INPUT, LONG_OUTPUT)
    assert [s[0] for s in steps] == kinds
    tools = [(s[1], json.loads(s[2]), s[3], s[4]) for s in steps if s[0] == "tool_call"]
    assert tools == [("tick", {"n": n}, f"tick {n} counted", "ok")
                     for n in range(1, E.LONG_CALLS + 1)]  # fmt: skip
    thinks = [(s[6], s[7]) for s in steps if s[0] == "think"]
    assert thinks == [(MODELS[framework], 100 + n) for n in range(1, E.LONG_CALLS + 1)] + [
        (MODELS[framework], 120)
    ]

    hostile = returned["hostile"]
    assert hostile["answer"] == E.HOSTILE_ANSWER
    run = runs[hostile["task"]]
    assert run[2:5] == ("completed", hostile["task"], E.HOSTILE_ANSWER)
    (lookup,) = [s for s in run_steps(module_collector, run[0]) if s[0] == "tool_call"]
    assert (lookup[1], json.loads(lookup[2]), lookup[3]) == (
        "lookup",
        {"query": E.HOSTILE},
        E.HOSTILE_RESULT,
    )


# What the caller saw of a declining model and of a content filter, as each run reads:
# (status, its answer, whether its error is what the caller saw raised).
DECLINED = {
    # pydantic-ai and the Agents SDK raise: the run failed with that error.
    "pydantic_ai": ("failed", None, True),
    "openai_agents": ("failed", None, True),
    # LangGraph returns the AI message: the refusal is its text (langchain-openai keeps
    # it beside the empty content); a filtered answer is empty.
    "langgraph": ("completed", {"refusal": E.REFUSAL, "content_filter": ""}, False),
    "langgraph_openllmetry": ("completed", {"refusal": E.REFUSAL, "content_filter": ""}, False),
    # Strands keeps no refusal: the answer is empty either way.
    "strands": ("completed", {"refusal": "", "content_filter": ""}, False),
    # smolagents cannot read the answer, asks again until its step limit, returns None.
    "smolagents": ("max_steps", None, False),
}


# The filtered answer's output tokens where the spans record the model's 0 (pydantic-ai, the
# Agents SDK's OpenInference spans and OpenLLMetry leave a 0 out: no count).
FILTERED_OUTPUT_TOKENS = {"langgraph": 0, "strands": 0, "smolagents": 0}


@pytest.mark.parametrize("framework", DECLINING)
def test_a_refusal_and_a_content_filter_read_as_returned(
    module_collector: CollectorHandle, framework: str
) -> None:
    name = f"edges_{framework}"
    body = body_of(name)
    send_capture(module_collector, body)
    returned = expected_of(name)["edges"]
    runs = runs_by_task(module_collector, body, RUNS[framework], what=name)
    status, answers, raised = DECLINED[framework]
    for shape in ("refusal", "content_filter"):
        seen = returned[shape]
        run = runs[seen["task"]]
        answer = answers[shape] if isinstance(answers, dict) else None
        # LangGraph returns the AI message, whose content is empty beside the refusal;
        # Strands the empty text.
        assert seen["answer"] == ("" if answer is not None else None)
        assert (seen["raised"] is not None) == raised
        assert (run[2], run[4]) == (status, answer)
        if shape == "content_filter":
            assert run[9] == FILTERED_OUTPUT_TOKENS.get(framework)
        if raised:
            # The error the caller saw (the Agents SDK's without its class name).
            assert run[5] and seen["raised"].endswith(run[5]), (run[5], seen["raised"])
        else:
            assert run[5] is None
        steps = run_steps(module_collector, run[0])
        if framework != "smolagents":
            assert [(s[0], s[4]) for s in steps] == [("think", "ok")]
            continue
        # Each step's model call could not be read: its Step's error; the last call, made
        # for a final answer at the step limit, none.
        unread = "Error while parsing tool call from model output: Message contains no content"
        assert [s[0] for s in steps] == ["think"] * 3
        assert [s[5] is not None and s[5].startswith(unread) for s in steps] == [True, True, False]


@pytest.mark.parametrize(
    "framework",
    ["pydantic_ai", "openai_agents", "langgraph", "langgraph_openllmetry", "strands", "google_adk"],
)
def test_a_run_cancelled_in_a_tool_is_cancelled(
    module_collector: CollectorHandle, framework: str
) -> None:
    """The run's task cancelled while ``wait_forever`` runs: the run is ``cancelled`` with
    no answer, its model call and the cut tool call its steps. The tool's step says it was
    cut off where the spans tell it: pydantic-ai's and Strands' tool span fails on the
    cancellation; under OpenInference LangGraph's never ends, and its ``tools`` node fails
    holding the call; under OpenLLMetry it ends with no status below the failed node; the
    Agents SDK's ends OK without output, as a tool that returned ``None``, so only the run
    says it."""
    name = f"edges_{framework}"
    body = body_of(name)
    send_capture(module_collector, body)
    seen = expected_of(name)["edges"]["cancelled"]
    assert seen["cancelled"] and seen["tool_saw_cancel"]
    runs = runs_by_task(module_collector, body, RUNS[framework], what=name)
    run = runs[seen["task"]]
    assert run[1:6] == ("edge_agent", "cancelled", seen["task"], None, None)
    steps = run_steps(module_collector, run[0])
    error = None if framework == "openai_agents" else "cancelled"
    assert [(s[0], s[1], s[2] and json.loads(s[2]), s[3], s[5]) for s in steps] == [
        ("think", None, None, None, None),
        ("tool_call", "wait_forever", {"seconds": 5}, None, error),
    ]


def test_an_agents_sdk_hand_off_chain_is_three_runs_in_order(
    module_collector: CollectorHandle,
) -> None:
    """triage hands over to billing, billing to refunds, which answers: three top-level
    runs on the user's request, in order, each hand-off its agent's last step named as the
    model called it, the last run answering."""
    name = "edges_openai_agents"
    body = body_of(name)
    send_capture(module_collector, body)
    seen = expected_of(name)["edges"]["handoff_chain"]
    rows = settled_runs(module_collector, body, RUNS["openai_agents"], what=name)
    chain = [r for r in rows if r[3] == seen["task"]]
    assert [(r[1], r[2], r[4], r[6]) for r in chain] == [
        ("triage", "completed", None, None),
        ("billing", "completed", None, None),
        ("refunds", "completed", seen["answer"], None),
    ]
    assert [[(s[0], s[1]) for s in run_steps(module_collector, r[0])] for r in chain] == [
        [("think", None), ("tool_call", "transfer_to_billing")],
        [("think", None), ("tool_call", "transfer_to_refunds")],
        [("think", None)],
    ]
