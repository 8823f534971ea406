"""Two unrelated model calls that got the same response id are two steps.

collector/twice_traced_calls.py takes a call traced side by side (a span with messages and
one without, the same ``gen_ai.response.id``) for one call. Some servers repeat response
ids (Ollama's OpenAI endpoint answers ``chatcmpl-`` and a number below 999), so two agents,
one capturing messages and one not, can get the same id for calls that have nothing else
in common: neither may be dropped as the other's twin. The real twins (the same answer's
model and tokens) stay one step.

Spans go through the real OpenTelemetry SDK and OTLP exporter to a real collector, one
export per span.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.conftest import CollectorHandle
from tests.support import wait_until

RESPONSE_ID = "chatcmpl-412"
SECOND_NS = 1_000_000_000


def _messages(text: str) -> dict[str, str]:
    return {
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": text}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": f"re: {text}"}]}]
        ),
    }


def _call(model: str, tokens: tuple[int, int], with_messages: bool, text: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.response.id": RESPONSE_ID,
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
    }
    return attributes | (_messages(text) if with_messages else {})


def _export(
    collector: CollectorHandle, under_one_parent: bool, calls: list[dict[str, Any]]
) -> set[str]:
    """Each call a span (the first around the second in time: the shape of twins), under one
    program span or each the root of its own trace; their traces."""
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True))
    )
    tracer = provider.get_tracer("response-id-collisions")
    start = 1_800_000_000 * SECOND_NS
    parent = tracer.start_span("program", start_time=start) if under_one_parent else None
    context = trace.set_span_in_context(parent) if parent is not None else None
    traces = set()
    for depth, attributes in enumerate(calls):
        span = tracer.start_span(
            f"chat {attributes['gen_ai.request.model']}",
            context=context,
            attributes=attributes,
            start_time=start + (depth + 1) * SECOND_NS,
        )
        span.end(end_time=start + (10 - depth) * SECOND_NS)
        traces.add(format(span.get_span_context().trace_id, "032x"))
    if parent is not None:
        parent.end(end_time=start + 11 * SECOND_NS)
    provider.shutdown()
    return traces


def _model_steps(collector: CollectorHandle, traces: set[str], count: int) -> list[tuple[Any, ...]]:
    def stored() -> list[tuple[Any, ...]] | None:
        rows = collector.query(
            "SELECT model, input_tokens, output_tokens FROM agent_steps "
            "WHERE trace_id IN (SELECT unnest(?)) AND action_type = 'think' ORDER BY model",
            [sorted(traces)],
        )
        spans = collector.query(
            "SELECT count(*) FROM spans WHERE trace_id IN (SELECT unnest(?))", [sorted(traces)]
        )[0][0]
        return rows if spans == count else None

    return wait_until(stored, timeout_s=15, what="the spans stored")


@pytest.mark.parametrize("under_one_parent", [False, True], ids=["two traces", "one parent"])
def test_two_calls_sharing_a_response_id_are_two_steps(
    collector: CollectorHandle, under_one_parent: bool
) -> None:
    """One agent's call with messages, another's without (its content capture off), the
    same response id, the second inside the first's time: two steps, each its own tokens."""
    traces = _export(
        collector,
        under_one_parent,
        [
            _call("qwen3:8b", (812, 40), True, "What is the weather in Paris?"),
            _call("llama3.2:3b", (95, 7), False, "unused"),
        ],
    )
    spans = 3 if under_one_parent else 2
    assert _model_steps(collector, traces, spans) == [("llama3.2:3b", 95, 7), ("qwen3:8b", 812, 40)]


@pytest.mark.parametrize("under_one_parent", [False, True], ids=["two traces", "one parent"])
def test_one_call_traced_twice_is_one_step(
    collector: CollectorHandle, under_one_parent: bool
) -> None:
    """The same answer's model and tokens on both spans: one call traced side by side, its
    step the span with the messages."""
    traces = _export(
        collector,
        under_one_parent,
        [
            _call("qwen3:8b", (812, 40), True, "What is the weather in Paris?"),
            _call("qwen3:8b", (812, 40), False, "unused"),
        ],
    )
    spans = 3 if under_one_parent else 2
    assert _model_steps(collector, traces, spans) == [("qwen3:8b", 812, 40)]
