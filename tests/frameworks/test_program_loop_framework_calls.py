"""A loop written by hand around a framework's raw model calls, in a span of the program's
own, running its tools untraced: each model call's step shows the tool it asked for.

pydantic-ai's and LlamaIndex's modules tell tool calls from messages, but only calls of a
tool the agent lacks; a trace holding their model calls must not read as one whose tools
are traced. The model calls are pydantic-ai's own, as captured (``captured/pydantic_ai.otlp``),
moved under a program's ``weather_loop`` span with the agent's run and tool spans left out.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span

from tests.conftest import CollectorHandle
from tests.frameworks.captured_runs import body_of, run_steps, send_capture
from tests.support import wait_until

ROOT_ID = bytes.fromhex("00000000000000aa")


def _loop_request() -> tuple[ExportTraceServiceRequest, list[dict[str, Any]]]:
    """The capture's first trace's model calls under a ``weather_loop`` root, and the tool
    calls each asked for (from its output messages), in order."""
    captured = ExportTraceServiceRequest.FromString(body_of("pydantic_ai"))
    resource = captured.resource_spans[0]
    calls = [
        span
        for scope in resource.scope_spans
        for span in scope.spans
        if span.name.startswith("chat ")
    ]
    trace_id = calls[0].trace_id
    calls = sorted(
        (c for c in calls if c.trace_id == trace_id), key=lambda c: c.start_time_unix_nano
    )
    request = ExportTraceServiceRequest()
    out = request.resource_spans.add()
    out.resource.CopyFrom(resource.resource)
    program = out.scope_spans.add()
    program.scope.name = "weather_script"
    root = Span(
        trace_id=trace_id,
        span_id=ROOT_ID,
        name="weather_loop",
        start_time_unix_nano=calls[0].start_time_unix_nano - 1_000,
        end_time_unix_nano=calls[-1].end_time_unix_nano + 1_000,
    )
    program.spans.append(root)
    framework = ScopeSpans()
    framework.scope.CopyFrom(resource.scope_spans[0].scope)
    for call in calls:
        moved = Span()
        moved.CopyFrom(call)
        moved.parent_span_id = ROOT_ID
        framework.spans.append(moved)
    out.scope_spans.append(framework)
    return request, [_asked(call) for call in calls]


def _asked(call: Span) -> dict[str, Any]:
    """The tool calls a model call's output messages ask for, as name -> arguments."""
    attributes = {a.key: a.value.string_value for a in call.attributes}
    messages = json.loads(attributes.get("gen_ai.output.messages") or "[]")
    parts = [p for m in messages for p in m.get("parts", []) if p.get("type") == "tool_call"]
    return {p["name"]: p.get("arguments") for p in parts}


def test_raw_framework_model_calls_in_a_program_span_show_the_tools_they_asked_for(
    collector: CollectorHandle,
) -> None:
    request, asked = _loop_request()
    assert sum(1 for a in asked if a) >= 2, "the capture's model calls ask for tools"
    send_capture(collector, request.SerializeToString())

    def run_with_steps() -> tuple[Any, ...] | None:
        rows = collector.query(
            "SELECT id, status, total_steps FROM agent_runs WHERE agent_name = 'weather_loop'"
        )
        return rows[0] if rows and rows[0][2] == len(asked) else None

    run = wait_until(run_with_steps, timeout_s=30, what="the loop's run with its model calls")
    steps = run_steps(collector, run[0])
    assert [s[0] for s in steps] == ["think"] * len(asked)
    for step, wanted in zip(steps, asked, strict=True):
        if not wanted:
            assert step[1] is None
            continue
        assert step[1] == ", ".join(wanted)
        told = json.loads(step[2])
        told = told if isinstance(told, list) else [{"name": step[1], "arguments": told}]
        assert [t["name"] for t in told] == list(wanted)
