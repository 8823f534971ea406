"""Loops written by hand around more LLM clients than ``test_captured_clients.py`` reads:
OpenAI's Responses API (``responses.create``, function calls sent back as
``function_call_output`` items; also streamed), Mistral's ``chat.complete``, Cohere's v2
``chat`` (tool results sent back as documents) and Bedrock's ``converse`` (boto3), traced only
by the client's instrumentation, as they really traced the shared agent
(``captured/capture_more_clients.py``, which says the versions): the loop in a span of the
program's own, the same loop with none, a failing model, a lone call. Their spans go over
the wire to a real collector and every run and step is read against what the loop
returned (``<client>_<instrumentation>.expected.json``)."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from tests.conftest import CollectorHandle
from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured_runs import (
    body_of,
    expected_of,
    run_steps,
    send_capture,
    settled_runs,
    trace_ids,
)
from tests.frameworks.client_loops import (
    OUTPUT_TOKENS,
    PROMPT_TOKENS,
    check_loop_runs,
    runless_steps,
)


class Reading(NamedTuple):
    """What a capture's runs say beyond what the loop returned."""

    requested: str  # the model the run asked for
    served: str  # the one that answered (Cohere's and Bedrock's APIs name none)
    step_error: str  # in the failed call's error
    # Whether the failed call's span holds its request (OpenLLMetry's Bedrock span
    # records the messages only with the answer): else the failed run has no task.
    failed_task: bool = True


CLIENTS = {
    "openai_responses_openinference": Reading(
        "scripted-openai-responses", "scripted-openai-responses-served", "Error code: 503"
    ),
    "openai_responses_otel": Reading(
        "scripted-openai-responses", "scripted-openai-responses-served", "Error code: 503"
    ),
    # The same loop with stream=True: each call's events read to the end.
    "openai_responses_streamed_openinference": Reading(
        "scripted-openai-responses-streamed",
        "scripted-openai-responses-streamed-served",
        "Error code: 503",
    ),
    "openai_responses_streamed_otel": Reading(
        "scripted-openai-responses-streamed",
        "scripted-openai-responses-streamed-served",
        "Error code: 503",
    ),
    "mistral_openinference": Reading("scripted-mistral", "scripted-mistral-served", "Status 503"),
    "cohere_openinference": Reading("scripted-cohere", "scripted-cohere", "status_code: 503"),
    "cohere_otel": Reading("scripted-cohere", "scripted-cohere", "status_code: 503"),
    "bedrock_openinference": Reading(
        "scripted-bedrock", "scripted-bedrock", "(ServiceUnavailableException)"
    ),
    "bedrock_otel": Reading(
        "scripted-bedrock", "scripted-bedrock", "(ServiceUnavailableException)", False
    ),
}


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_a_loop_around_another_client_reads_as_it_returned(
    module_collector: CollectorHandle, name: str
) -> None:
    """The program's ``weather_loop`` span is the run: its task the user's message (not
    the instructions sent beside it), its answer the final text, each model call one
    ``think`` step with the served model, its tokens and the tool it asked for with the
    result the loop sent back; the failing loop a failed run with the client's error; the
    loop with no span around it and the lone call steps of no run (SPANS.md)."""
    requested, served, step_error, failed_task = CLIENTS[name]
    expected = expected_of(name)
    body = body_of(name)
    traces = trace_ids(body)
    send_capture(module_collector, body)
    done_row, failed_row = settled_runs(module_collector, body, 2, what=name)

    check_loop_runs(
        module_collector,
        traces,
        expected,
        (done_row, failed_row),
        requested=requested,
        served=served,
        step_error=step_error,
        failed_task=failed_task,
    )


def test_a_mistral_loop_whose_prompts_openllmetry_drops_keeps_its_calls(
    module_collector: CollectorHandle,
) -> None:
    """OpenLLMetry's Mistral instrumentation records a prompt's content only for message
    objects, not for the dicts Mistral's own examples pass: the run has no task and its
    calls no tool they asked for (nothing in the trace says), but every call is one step
    with its model and tokens and the answer is read; mistralai 1.x's own spans beside
    OpenLLMetry's are no steps (each call once)."""
    name = "mistral_otel"
    expected = expected_of(name)
    served = f"{expected['model']}-served"
    body = body_of(name)
    traces = trace_ids(body)
    send_capture(module_collector, body)
    done_row, failed_row = settled_runs(module_collector, body, 2, what=name)
    done = expected["success"]
    assert done_row[1:12] == ("weather_loop", "completed", None, done["answer"], None, None,
                              done["model_calls"], sum(PROMPT_TOKENS), sum(OUTPUT_TOKENS),
                              expected["model"], served)  # fmt: skip
    steps = run_steps(module_collector, done_row[0])
    assert [(s[0], s[1], s[4], s[6], s[7]) for s in steps] == [
        ("think", None, "ok", served, n) for n in PROMPT_TOKENS
    ]
    fails = expected["fails"]
    assert failed_row[1:6] == ("weather_loop", "failed", None, None, fails["raised"])
    failed_steps = run_steps(module_collector, failed_row[0])
    assert [(s[0], s[4], s[6]) for s in failed_steps] == [("think", "error", expected["model"])]
    assert S.MODEL_ERROR in failed_steps[0][5]
    assert [row[:4] for row in runless_steps(module_collector, traces)] == [
        ("think", "ok", served, n) for n in [*PROMPT_TOKENS, 7]
    ]
