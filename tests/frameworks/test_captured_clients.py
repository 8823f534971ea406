"""Loops written by hand around vendors' own LLM clients (the Anthropic SDK, google-genai, Groq),
traced only by the client's instrumentation, as they really traced the shared agent
(``captured/capture_llm_clients.py``, which says the versions): the loop in a span of the
program's own, the same loop with none, a failing model, a lone call. Their spans go over
the wire to a real collector and every run and step is read against what the loop
returned (``<client>_<instrumentation>.expected.json``)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import CollectorHandle
from tests.frameworks.captured_runs import (
    CAPTURED,
    RUNS,
    expected_of,
    run_steps,
    send_capture,
    trace_ids,
)
from tests.frameworks.client_loops import (
    OUTPUT_TOKENS,
    PROMPT_TOKENS,
    check_loop_runs,
    runless_steps,
)
from tests.support import wait_until

# Per capture: the model the run asked for (OpenInference's google-genai spans name only
# the one that answered) and the error the failed model call's step keeps.
CLIENTS = {
    "anthropic_openinference": ("scripted-anthropic", "503 the model is overloaded"),
    "anthropic_otel": ("scripted-anthropic", "503 the model is overloaded"),
    "google_genai_openinference": ("scripted-google-genai-served", "503 UNAVAILABLE"),
    "google_genai_otel": ("scripted-google-genai", "503 UNAVAILABLE"),
    # OpenInference names the requested model only in its parameters.
    "groq_openinference": ("scripted-groq", "Error code: 503"),
    "groq_otel": ("scripted-groq", "Error code: 503"),
}


def _settled(collector: CollectorHandle, traces: list[str]) -> list[tuple[Any, ...]] | None:
    rows = collector.query(
        f"SELECT {RUNS} FROM agent_runs WHERE trace_id IN (SELECT unnest(?)) ORDER BY started_at",
        [traces],
    )
    return rows if len(rows) == 2 and all(r[2] != "running" and r[7] for r in rows) else None


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_a_loop_around_a_vendor_client_reads_as_it_returned(
    module_collector: CollectorHandle, name: str
) -> None:
    """The program's ``weather_loop`` span is the run: its task the user's message, its
    answer the final text, each model call one ``think`` step with the served model, its
    tokens (cache reads and writes counted once, inside the prompt's count) and the tool
    it asked for, though the Anthropic SDK traces each call itself beside OpenLLMetry's
    span; the failing loop a failed run with the client's error; the loop with no span
    around it and the lone call steps of no run, each call once (SPANS.md)."""
    requested, step_error = CLIENTS[name]
    expected = expected_of(name)
    served = f"{expected['model']}-served"
    body = (CAPTURED / f"{name}.otlp").read_bytes()
    traces = trace_ids(body)
    send_capture(module_collector, body)
    done_row, failed_row = wait_until(
        lambda: _settled(module_collector, traces), timeout_s=15, what=f"the runs of {name}"
    )

    check_loop_runs(
        module_collector,
        traces,
        expected,
        (done_row, failed_row),
        requested=requested,
        served=served,
        step_error=step_error,
    )


@pytest.mark.parametrize("sdk_first", [True, False], ids=["client's own first", "its twin first"])
def test_a_call_traced_twice_side_by_side_is_one_step_in_any_order(
    collector: CollectorHandle, sdk_first: bool
) -> None:
    """The Anthropic SDK's own span and OpenLLMetry's beside it are one call: whichever
    arrives first, each call is one step with the messages' reading (the task, the
    answer), and the run's tokens are counted once."""
    name = "anthropic_otel"
    expected = expected_of(name)
    body = (CAPTURED / f"{name}.otlp").read_bytes()
    traces = trace_ids(body)
    # One span a request, one side's spans first: each is stored before its twin arrives.
    parts = _one_span_each(body)
    for part in sorted(parts, key=lambda p: (p[0] == "com.anthropic.sdk.python") != sdk_first):
        send_capture(collector, part[1])
    done_row, failed_row = wait_until(
        lambda: _settled(collector, traces), timeout_s=15, what="the runs"
    )
    done = expected["success"]
    assert done_row[2:10] == ("completed", done["task"], done["answer"], None, None, 4,
                              sum(PROMPT_TOKENS), sum(OUTPUT_TOKENS))  # fmt: skip
    assert len(run_steps(collector, done_row[0])) == 4
    assert [(s[0], s[4]) for s in run_steps(collector, failed_row[0])] == [("think", "error")]
    assert len(runless_steps(collector, traces)) == 5


def _one_span_each(body: bytes) -> list[tuple[str, bytes]]:
    """``body`` as one request per span, with its scope's name."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    parts: list[tuple[str, bytes]] = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                part = ExportTraceServiceRequest()
                into = part.resource_spans.add()
                into.resource.CopyFrom(resource_spans.resource)
                scope = into.scope_spans.add()
                scope.scope.CopyFrom(scope_spans.scope)
                scope.spans.add().CopyFrom(span)
                parts.append((scope_spans.scope.name, part.SerializeToString()))
    return parts
