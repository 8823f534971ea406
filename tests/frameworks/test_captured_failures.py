"""Failure shapes as each framework really traced them (captured with capture_failures.py,
which says the versions): a model server failing through every retry, a rate limit retried
until the model answers, and each framework's own limits and validation retries. Each run is
read against what the framework returned or raised (``failures_<framework>.expected.json``),
as its own logs tell it: a run that failed names the call or the limit it failed on, a retry
that succeeded fails nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CollectorHandle, start_test_collector
from tests.frameworks.captured import failures_scenario as F
from tests.frameworks.captured_runs import (
    body_of,
    expected_of,
    run_steps,
    runs_by_task,
    send_capture,
)

# How many runs each capture holds (the shared two, then the framework's own shapes).
RUNS = {
    "pydantic_ai": 7,
    "openai_agents": 9,
    "langgraph": 5,
    "langgraph_openllmetry": 5,
    "strands": 5,
    "smolagents": 5,
}
# smolagents' failed run never ends its span (OpenInference's smolagents instrumentation): the
# collector settles it once it falls silent, so the collector here gives up after 2 s.
LOST_AFTER_S = 2.0
# A run's tokens: the weather call's, then the answer's (the scripted default 120 / 30).
THROTTLED_TOKENS = (F.CALL_TOKENS["input_tokens"] + 120, F.CALL_TOKENS["output_tokens"] + 30)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    path = tmp_path_factory.mktemp("failures") / "audit.duckdb"
    handle = start_test_collector(path, lost_after_s=LOST_AFTER_S)
    try:
        yield handle
    finally:
        handle.stop()


def _replayed(
    collector: CollectorHandle, framework: str
) -> tuple[dict[str, Any], dict[str, tuple[Any, ...]]]:
    """What the framework returned, by shape; the runs the collector made, by task."""
    name = f"failures_{framework}"
    body = body_of(name)
    send_capture(collector, body)
    runs = runs_by_task(collector, body, RUNS[framework], what=name)
    return expected_of(name)["failures"], runs


def _kinds(steps: list[tuple[Any, ...]]) -> list[tuple[str, str]]:
    return [(s[0], s[4]) for s in steps]


@pytest.mark.parametrize("framework", sorted(RUNS))
def test_a_model_failing_through_its_retries_fails_the_run_on_that_call(
    collector: CollectorHandle, framework: str
) -> None:
    """Every attempt at the second model call is answered 500: the run failed, its error the
    server's (as the caller saw it, or as the failed call recorded it), the weather call and
    the first model call kept, the failed call a failed ``think`` step with that error."""
    returned, runs = _replayed(collector, framework)
    seen = returned["exhausted"]
    assert seen["answer"] is None and F.SERVER_ERROR in seen["raised"]
    run = runs[seen["task"]]
    assert run[1:5] == ("failure_agent" if framework != "smolagents" else None, "failed",
                        seen["task"], None)  # fmt: skip
    assert F.SERVER_ERROR in run[5] and "500" in run[5], run[5]
    steps = run_steps(collector, run[0])
    assert _kinds(steps) == [("think", "ok"), ("tool_call", "ok"), ("think", "error")]
    assert (steps[1][1], json.loads(steps[1][2]), steps[1][3]) == (
        "get_weather",
        F.CITY,
        F.WEATHER,
    )
    assert F.SERVER_ERROR in steps[2][5], steps[2][5]
    assert run[8:10] == (F.CALL_TOKENS["input_tokens"], F.CALL_TOKENS["output_tokens"])


@pytest.mark.parametrize("framework", sorted(RUNS))
def test_a_rate_limit_retried_fails_nothing(collector: CollectorHandle, framework: str) -> None:
    """The first model call is answered 429 once and tried again (by the client inside its
    model-call span; by Strands' own retry strategy as a call of its own; by smolagents'
    retry inside its ``generate`` span): the run completed with its answer and no error; an
    attempt traced as its own call is a failed ``think`` step with the 429, never the run's
    error."""
    returned, runs = _replayed(collector, framework)
    seen = returned["throttled"]
    assert (seen["answer"], seen["raised"]) == (F.ANSWER, None)
    run = runs[seen["task"]]
    assert run[1:6] == ("failure_agent", "completed", seen["task"], F.ANSWER, None)
    assert run[8:10] == THROTTLED_TOKENS
    steps = run_steps(collector, run[0])
    kinds = [("think", "ok"), ("tool_call", "ok"), ("think", "ok")]
    kinds += [("response", "ok")] if framework == "smolagents" else []
    if framework == "strands":
        kinds.insert(0, ("think", "error"))
        assert F.RATE_LIMITED in steps[0][5] and "429" in steps[0][5], steps[0][5]
    assert _kinds(steps) == kinds


def test_pydantic_ai_limits_and_retries_run_out(collector: CollectorHandle) -> None:
    """A token budget exceeded, an output failing validation past the agent's retries, a tool
    raising ``ModelRetry`` past them: each run failed with what pydantic-ai raised, the
    steps it took kept; the tool's last attempt a failed step naming the retry limit."""
    returned, runs = _replayed(collector, "pydantic_ai")
    for shape in ("token_budget", "output_retries_exhausted", "tool_retries_exhausted"):
        seen = returned[shape]
        assert seen["answer"] is None and seen["raised"], seen
        run = runs[seen["task"]]
        assert run[2:6] == ("failed", seen["task"], None, seen["raised"]), shape
    budget = runs[returned["token_budget"]["task"]]
    assert "total_tokens_limit of 200" in budget[5]
    # The third call's tokens pushed the run past its budget: it counts them.
    assert _kinds(run_steps(collector, budget[0])) == [("think", "ok"), ("tool_call", "ok")] * 2 + [
        ("think", "ok")
    ]
    assert budget[8] + budget[9] > 200
    rejected = runs[returned["output_retries_exhausted"]["task"]]
    assert _kinds(run_steps(collector, rejected[0])) == [("think", "ok")] * 2
    flaky = run_steps(collector, runs[returned["tool_retries_exhausted"]["task"]][0])
    assert _kinds(flaky) == [("think", "ok"), ("tool_call", "error")] * 2
    assert flaky[1][3] == "the weather service for Lyon is down, try again"
    assert "exceeded max retries count of 1" in flaky[3][5]


def test_an_agents_sdk_output_that_is_no_json_fails_the_run(collector: CollectorHandle) -> None:
    """``output_type`` given and the model answers plain text: the SDK raises
    ``ModelBehaviorError`` and traces it only on the turn (the agent span ends OK): the run
    failed with the SDK's error, no answer, its model call kept."""
    returned, runs = _replayed(collector, "openai_agents")
    seen = returned["invalid_output"]
    assert seen["answer"] is None and seen["raised"].startswith("ModelBehaviorError: Invalid JSON")
    run = runs[seen["task"]]
    assert run[2:6] == ("failed", seen["task"], None, "Invalid JSON provided")
    assert _kinds(run_steps(collector, run[0])) == [("think", "ok")]


@pytest.mark.parametrize("framework", ["langgraph", "langgraph_openllmetry"])
def test_a_langgraph_structured_answer_retried_completes(
    collector: CollectorHandle, framework: str
) -> None:
    """``response_format=ToolStrategy(...)``: the model's first record fails validation,
    LangChain tells it the error and it answers again: completed, the valid record the
    answer, both model calls ``think`` steps, neither failed (as pydantic-ai's rejected
    output)."""
    returned, runs = _replayed(collector, framework)
    seen = returned["output_retried"]
    assert seen["raised"] is None
    run = runs[seen["task"]]
    assert run[2:6] == ("completed", seen["task"], json.dumps(seen["answer"]), None)
    assert _kinds(run_steps(collector, run[0])) == [("think", "ok")] * 2


def test_a_strands_answer_cut_at_the_token_limit_fails(collector: CollectorHandle) -> None:
    """The model stops at its token limit (finish reason ``length``): Strands raises
    ``MaxTokensReachedException``; the run failed with its message, the cut call kept with
    its tokens."""
    returned, runs = _replayed(collector, "strands")
    seen = returned["max_tokens"]
    assert seen["raised"].startswith("MaxTokensReachedException: ")
    run = runs[seen["task"]]
    assert run[2:5] == ("failed", seen["task"], None)
    assert run[5] and seen["raised"].endswith(run[5]), run[5]
    steps = run_steps(collector, run[0])
    assert [(s[0], s[4], s[7]) for s in steps] == [("think", "ok", 120)]


def test_smolagents_rate_limited_past_its_retries_fails(collector: CollectorHandle) -> None:
    """smolagents retries a 429 itself (inside one ``generate`` span) and gives up: the run
    span never ends, so the run is settled once silent: failed with the model call's error,
    its task the request as given (not smolagents' ``New task:`` prompt)."""
    returned, runs = _replayed(collector, "smolagents")
    seen = returned["rate_limited"]
    assert seen["raised"].startswith("AgentGenerationError: ")
    run = runs[seen["task"]]
    assert run[2:5] == ("failed", seen["task"], None)
    assert F.RATE_LIMITED in run[5] and "429" in run[5], run[5]
    assert _kinds(run_steps(collector, run[0])) == [("think", "error")]


@pytest.mark.parametrize(
    ("stage", "told", "answered"),
    [("input", F.GUARDED, F.REFUSED_ANSWER), ("output", F.WITHHELD, F.WITHHELD_ANSWER)],
)
def test_an_agents_sdk_tool_guardrail_rejecting_or_tripping(
    collector: CollectorHandle, stage: str, told: str, answered: str
) -> None:
    """A tool guardrail that rejects (``reject_content``): the model is told the guardrail's
    message instead of the call (input) or the result (output) and answers: completed, the
    tool step failed, its error naming the guardrail and its message, its result what the
    model was told (the SDK's span ends OK; ``instrumentation.auto`` names the guardrail).
    One that raises: the run failed with the SDK's tripwire message, the tool step with it."""
    returned, runs = _replayed(collector, "openai_agents")
    shape = "tool_guardrail" if stage == "input" else "tool_output_guardrail"
    seen = returned[f"{shape}_rejected"]
    assert (seen["answer"], seen["raised"]) == (answered, None)
    run = runs[seen["task"]]
    assert run[2:6] == ("completed", seen["task"], answered, None)
    steps = run_steps(collector, run[0])
    guardrail = "no_paris" if stage == "input" else "no_forecasts"
    assert [(s[0], s[1], s[3], s[4], s[5]) for s in steps] == [
        ("think", None, None, "ok", None),
        ("tool_call", "get_weather", told, "error",
         f"Rejected by the tool {stage} guardrail {guardrail}: {told}"),
        ("think", None, None, "ok", None),
    ]  # fmt: skip
    seen = returned[f"{shape}_tripped"]
    kind = "ToolInputGuardrail" if stage == "input" else "ToolOutputGuardrail"
    tripwire = f"Tool {stage} guardrail {kind} triggered tripwire"
    assert seen["raised"] == f"{kind}TripwireTriggered: {tripwire}"
    run = runs[seen["task"]]
    assert run[2:6] == ("failed", seen["task"], None, tripwire)
    steps = run_steps(collector, run[0])
    assert _kinds(steps) == [("think", "ok"), ("tool_call", "error")]
    assert tripwire in steps[1][5] and steps[1][3] is None


# A manager whose tool runs another agent: the shape, its manager's status and error (None:
# the error the framework raised), its tool step's error (a substring), the child's status.
DELEGATED = {
    # The child's turn limit fails the tool; the SDK tells the manager's model and it answers.
    "openai_agents": (
        "child_max_turns",
        "completed",
        "Error running tool (non-fatal)",
        "max_steps",
    ),  # fmt: skip
    # The child's requests count on the manager's usage: its request limit stops both.
    "pydantic_ai": ("child_request_limit", "max_steps", "request_limit of 3", "max_steps"),
    # The child's model fails: Strands tells the manager's model the tool's error.
    "strands": ("child_fails", "completed", F.SERVER_ERROR, "failed"),
    # The child's recursion limit: the tool node does not catch GraphRecursionError, and the
    # manager stops with it too (both instrumentations).
    "langgraph": ("child_recursion_limit", "max_steps", "Recursion limit of 4", "max_steps"),
    "langgraph_openllmetry": (
        "child_recursion_limit",
        "max_steps",
        "Recursion limit of 4",
        "max_steps",
    ),
}


@pytest.mark.parametrize("framework", sorted(DELEGATED))
def test_an_agent_run_by_a_tool_stopping_is_a_child_run_of_the_tool_call(
    collector: CollectorHandle, framework: str
) -> None:
    """A manager's tool runs a second agent that stops (its turn limit, the shared request
    limit, its model failing): the second agent is a run of its own under the manager's,
    with its steps and its status; the manager's tool call failed with what stopped it, and
    the manager completed or stopped as the framework returned."""
    shape, status, tool_error, child_status = DELEGATED[framework]
    returned, runs = _replayed(collector, framework)
    seen = returned[shape]
    manager, child = runs[seen["task"]], runs[seen["child_task"]]
    assert (manager[1], manager[2]) == ("manager", status)
    if seen["raised"] is None:
        assert (manager[4], manager[5]) == (seen["answer"], None)
    else:
        assert manager[4] is None and seen["raised"].endswith(manager[5]), manager[5]
    assert (manager[6], child[6], child[2]) == (None, manager[0], child_status)
    assert child[1] == "forecaster" and child[4] is None and child[5]
    steps = run_steps(collector, manager[0])
    (call,) = [s for s in steps if s[0] == "tool_call"]
    assert (call[1], json.loads(call[2]), call[4]) == (
        "ask_forecaster",
        {"question" if framework != "openai_agents" else "input": seen["child_task"]},
        "error",
    )
    assert tool_error in call[5], call[5]
    child_steps = run_steps(collector, child[0])
    assert [s[0] for s in child_steps][:2] == ["think", "tool_call"]


def test_a_smolagents_managed_agent_whose_model_fails(collector: CollectorHandle) -> None:
    """A managed agent's model fails: smolagents tells the manager the team member's error
    and the manager answers (completed). The managed agent's run span never ends
    (OpenInference's smolagents instrumentation): its run is known by its steps, its task
    the manager's request (not smolagents' prompts around it), settled failed with the
    failed call's error once silent."""
    returned, runs = _replayed(collector, "smolagents")
    seen = returned["child_fails"]
    assert (seen["answer"], seen["raised"]) == (F.CHILD_GAVE_UP, None)
    manager = runs[seen["task"]]
    assert manager[1:6] == ("manager", "completed", seen["task"], F.CHILD_GAVE_UP, None)
    child = runs[seen["child_task"]]
    assert child[2] == "failed" and F.SERVER_ERROR in child[5], child
    steps = run_steps(collector, child[0])
    assert _kinds(steps) == [("think", "ok"), ("tool_call", "ok"), ("think", "error")]
