"""A span between a run and its steps that ends after the run (AutoGen's OpenInference
agent span can end after autogen-core's ``invoke_agent``): the run arrives before the span
that links its steps to it, and is given them only when that span arrives. What the run
reads from its steps (task, answer, model) must come then, not stay empty.

Spans go through the real OpenTelemetry SDK and OTLP exporter to a real collector, one
export per span, in the order the test ends them.
"""

from __future__ import annotations

import json

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.conftest import CollectorHandle
from tests.support import wait_until

TASK = "[late-middle] What is the weather in Zürich?"
ANSWER = "Sunny in Zürich ☀"


def test_a_run_given_its_steps_late_reads_its_task_and_answer_from_them(
    collector: CollectorHandle,
) -> None:
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("framework-under-test")
    run = tracer.start_span(
        "invoke_agent weather_agent",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent"},
    )
    middle = tracer.start_span("weather_agent.on_messages_stream", trace.set_span_in_context(run))
    with tracer.start_as_current_span(
        "chat scripted",
        context=trace.set_span_in_context(middle),
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "scripted",
            "gen_ai.response.model": "scripted-served",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": TASK}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}]
            ),
        },
    ):
        pass
    run_id = format(run.get_span_context().span_id, "016x")
    run.end()  # before the span between it and its model call
    cols = ("task", "final_answer", "model_requested", "model_used", "total_steps", "is_final")

    def stored() -> dict[str, object]:
        rows = collector.query(f"SELECT {', '.join(cols)} FROM agent_runs WHERE id = ?", [run_id])
        return dict(zip(cols, rows[0], strict=True)) if rows else {}

    first = wait_until(lambda: stored().get("is_final") and stored(), timeout_s=15, what="run")
    assert first["task"] is None and first["total_steps"] == 0, first  # nothing links them yet
    middle.end()
    done = wait_until(
        lambda: (r := stored())["total_steps"] == 1 and r["task"] and r,
        timeout_s=15,
        what="the run given its step",
    )
    assert done["task"] == TASK and done["final_answer"] == ANSWER, done
    assert (done["model_requested"], done["model_used"]) == ("scripted", "scripted-served")
    provider.shutdown()
