"""LLM clients and gateways self-hosters call without an agent framework, as they really
traced the shared agent (``captured/capture_<name>.py``, which say the versions): a loop
written by hand inside a span of the program's own, a failing model, a lone call; their
spans are sent over the wire to a real collector and every run and step is read against
what the client returned (``<name>.expected.json``, written by the same capture)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured_runs import (
    RUNS,
    body_of,
    capture_runs,
    check_tools,
    expected_of,
    lone_steps,
    run_steps,
    send_capture,
    settled_runs,
    trace_ids,
)
from tests.support import wait_until


def _loop_runs(collector: CollectorHandle, name: str, count: int = 2) -> list[tuple[Any, ...]]:
    """The runs of ``name``.otlp, oldest first, once all ``count`` have settled (a failed
    run may have no step: then once it has ended and the others have their steps)."""
    body = body_of(name)
    send_capture(collector, body)
    if not FAILED_STEPS.get(name, True):
        traces = trace_ids(body)

        def ended() -> list[tuple[Any, ...]] | None:
            rows = collector.query(
                f"SELECT {RUNS} FROM agent_runs WHERE trace_id IN (SELECT unnest(?)) "
                "ORDER BY started_at",
                [traces],
            )
            done = len(rows) == count and all(
                r[2] == "failed" or (r[2] != "running" and r[7]) for r in rows
            )
            return rows if done else None

        return wait_until(ended, timeout_s=15, what=f"the runs of {name}")
    return settled_runs(collector, body, count, what=name)


def _lone_steps(collector: CollectorHandle, name: str) -> list[tuple[Any, ...]]:
    return lone_steps(collector, body_of(name), "action_type, status, model, input_tokens")


# Per capture: the run's model asked for and the one that answered, and the model its
# steps name (OpenInference's LiteLLM spans name LiteLLM's model string, not the served one).
LOOPS = {
    "ollama": ("scripted-ollama", "scripted-ollama-served", "scripted-ollama-served"),
    "litellm_openinference": ("openai/scripted-litellm",) * 3,
    "litellm_otel_request_span": (
        "scripted-litellm",
        "scripted-litellm-served",
        "scripted-litellm-served",
    ),
    # Both on: LiteLLM's callback writes onto OpenInference's span, its raw request span
    # below is no step; each call is counted once.
    "litellm_both": ("openai/scripted-litellm",) * 3,
    # LiteLLM's callback alone writes each call onto the program's span: the raw request
    # span it leaves per call is the step.
    "litellm_otel": ("scripted-litellm", "scripted-litellm-served", "scripted-litellm-served"),
}
# The failing loop's steps: its failed call's span, unless LiteLLM wrote that call onto the
# program's span (no span of its own, no raw request: the run alone tells the failure).
FAILED_STEPS = {"litellm_otel": []}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_a_hand_written_loop_is_one_run(module_collector: CollectorHandle, name: str) -> None:
    """The program's ``weather_loop`` span is the run, each model call one ``think`` step
    with its own tokens, counted once; the failing loop a failed run; a lone call a step
    of no run (SPANS.md)."""
    requested, used, served = LOOPS[name]
    expected = expected_of(name)
    done_row, failed_row = _loop_runs(module_collector, name)
    done = expected["success"]
    assert done_row[1:8] == ("weather_loop", "completed", done["task"], done["answer"], None, None,
                             done["model_calls"])  # fmt: skip
    assert done_row[8:12] == (460, 46, requested, used)
    steps = run_steps(module_collector, done_row[0])
    assert [(s[0], s[4], s[6], s[7]) for s in steps] == [
        ("think", "ok", served, n) for n in (100, 110, 120, 130)
    ]
    fails = expected["fails"]
    assert S.MODEL_ERROR in fails["raised"]
    assert failed_row[1:6] == ("weather_loop", "failed", fails["task"], None, fails["raised"])
    assert [(s[0], s[4]) for s in run_steps(module_collector, failed_row[0])] == FAILED_STEPS.get(
        name, [("think", "error")]
    )
    assert _lone_steps(module_collector, name) == [("think", "ok", served, 7)]
    assert expected["lone"]["answer"] == "Hello!"


def test_instructor_retries_are_steps_of_one_run(module_collector: CollectorHandle) -> None:
    """Instructor's structured output, traced by OpenInference's OpenAI instrumentation in
    a span of the program's own: each attempt (the one failing validation, the retry) is a
    ``think`` step of that run, the validated record (the last call's forced function
    arguments) its answer; a model error and retries that run out fail the run with what
    Instructor raised."""
    expected = expected_of("instructor")
    runs = capture_runs(module_collector, "instructor", 3)
    served = "scripted-instructor-served"
    done = expected["success"]
    run = runs[done["task"]]
    # The model answers through the function call its request forced (``tool_choice``
    # naming ``Weather``): those arguments, the record Instructor validated, are the answer.
    assert run[1:8] == ("extract_weather", "completed", done["task"], run[4], None, None,
                        done["model_calls"])  # fmt: skip
    assert json.loads(run[4]) == done["answer"]
    assert run[8:12] == (250, 25, "scripted-instructor", served)
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[4], s[6], s[7]) for s in steps] == [
        ("think", "ok", served, 100),
        ("think", "ok", served, 150),
    ]

    fails = expected["fails"]
    run = runs[fails["task"]]
    assert fails["raised"].startswith("InstructorRetryException")
    assert S.MODEL_ERROR in fails["raised"]
    assert run[1:6] == ("extract_weather", "failed", fails["task"], None, fails["raised"])
    assert [(s[0], s[4]) for s in run_steps(module_collector, run[0])] == [("think", "error")]

    invalid = expected["invalid"]
    run = runs[invalid["task"]]
    assert run[1:6] == ("extract_weather", "failed", invalid["task"], None, invalid["raised"])
    # Every attempt answered (HTTP 200) and failed only Instructor's validation.
    steps = run_steps(module_collector, run[0])
    assert [(s[0], s[4]) for s in steps] == [("think", "ok")] * invalid["model_calls"]
    assert run[7:10] == (3, 360, 90)


@pytest.mark.parametrize(
    ("mode", "requested", "plain_name"),
    [("mlflow", "scripted-mlflow", "ask"), ("semconv", "scripted-mlflow-served", "UNKNOWN")],
)
def test_mlflow_traces_read_as_the_agent_returned(
    module_collector: CollectorHandle, mode: str, requested: str, plain_name: str
) -> None:
    """MLflow Tracing exported over OTLP: ``@mlflow.trace(span_type="AGENT")`` is the run,
    its ``TOOL`` spans tool steps, ``mlflow.openai.autolog()``'s calls model calls; read
    from MLflow's own keys (``mlflow.spanType``, JSON inputs and outputs) and, with
    ``MLFLOW_ENABLE_OTEL_GENAI_SEMCONV``, from the GenAI keys, to the same runs. A bare
    ``@mlflow.trace`` around one call is a run too, the traced helper in it no step."""
    name = f"mlflow_{mode}"
    expected = expected_of(name)
    served = "scripted-mlflow-served"
    done_row, failed_row, plain_row = _loop_runs(module_collector, name, 3)
    done = expected["success"]
    assert done_row[1:7] == ("weather_agent", "completed", done["task"], done["answer"], None, None)
    # The semconv spans name only the served model.
    assert done_row[8:12] == (460, 46, requested, served)
    steps = run_steps(module_collector, done_row[0])
    assert [s[0] for s in steps] == ["think", "tool_call"] * 3 + ["think"]
    assert [s[7] for s in steps if s[0] == "think"] == [100, 110, 120, 130]
    assert sum(1 for s in steps if s[0] == "think") == done["model_calls"]
    check_tools(steps, done["tools"])
    assert steps[1][5] == f"TimeoutError: {S.WEATHER_ERROR}"

    fails = expected["fails"]
    assert failed_row[1:6] == ("weather_agent", "failed", fails["task"], None, fails["raised"])
    assert [(s[0], s[4]) for s in run_steps(module_collector, failed_row[0])] == [
        ("think", "error")
    ]

    plain = expected["plain"]
    # MLflow's GenAI spans name a span of no type after the type.
    assert plain_row[1:8] == (plain_name, "completed", plain["task"], plain["answer"], None,
                              None, 1)  # fmt: skip
    assert plain_row[8:12] == (20, 3, requested, served)
    assert _lone_steps(module_collector, name) == [("think", "ok", served, 7)]
