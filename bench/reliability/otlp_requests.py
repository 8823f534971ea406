"""OTLP requests whose every id is known: one request = one whole run."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from instrumentation import attributes as A

__all__ = ["RunRequest", "build_run_request", "kv", "to_otlp_json"]


def kv(key: str, value: Any) -> KeyValue:
    """One OTLP attribute."""
    any_value = AnyValue()
    if isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    elif isinstance(value, bytes):
        any_value.bytes_value = value
    else:
        any_value.string_value = str(value)
    return KeyValue(key=key, value=any_value)


@dataclass(frozen=True)
class RunRequest:
    """One OTLP request holding one whole run: a run span and its tool steps."""

    run_id: str
    trace_id: str
    run_span_id: str
    step_span_ids: tuple[str, ...]
    message: ExportTraceServiceRequest = field(repr=False)

    @property
    def span_keys(self) -> list[tuple[str, str]]:
        return [(self.trace_id, s) for s in (self.run_span_id, *self.step_span_ids)]

    def protobuf(self) -> bytes:
        return bytes(self.message.SerializeToString())

    def json(self) -> bytes:
        return json.dumps(to_otlp_json(self.message)).encode()


def _hex_id(number: int, width: int) -> str:
    # Never zero (an invalid OTLP id), always lowercase hex of the right width.
    return format(number | (1 << (width * 4 - 1)), f"0{width}x")


def build_run_request(
    client: int,
    seq: int,
    steps: int,
    *,
    start_ns: int | None = None,
    payload_bytes: int = 0,
    service: str = "reliability",
) -> RunRequest:
    """A run ``run-{client}-{seq}`` with ``steps`` tool steps; ids derive from (client, seq)."""
    run_id = f"run-{client}-{seq}"
    trace_id = _hex_id((client << 64) | seq, 32)
    run_span_id = _hex_id((client << 40) | (seq << 8), 16)
    step_ids = tuple(_hex_id((client << 40) | (seq << 8) | (i + 1), 16) for i in range(steps))
    t0 = start_ns if start_ns is not None else time.time_ns()
    filler = "x" * payload_bytes
    run_span = Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(run_span_id),
        name="invoke_agent reliability",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=t0,
        end_time_unix_nano=t0 + (steps + 1) * 1_000_000,
        attributes=[
            kv(A.GEN_AI_OPERATION_NAME, "invoke_agent"),
            kv(A.GEN_AI_AGENT_NAME, "reliability"),
            kv(A.RUN_ID, run_id),
            kv(A.RUN_TASK, f"task {client}/{seq}"),
            kv(A.RUN_STATUS, "completed"),
            kv(A.RUN_FINAL_ANSWER, "done"),
        ],
        status=Status(code=Status.STATUS_CODE_OK),
    )
    spans = [run_span]
    for i, step_id in enumerate(step_ids):
        start = t0 + (i + 1) * 1_000_000
        spans.append(
            Span(
                trace_id=bytes.fromhex(trace_id),
                span_id=bytes.fromhex(step_id),
                parent_span_id=bytes.fromhex(run_span_id),
                name="execute_tool docker_ps",
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=start,
                end_time_unix_nano=start + 500_000,
                attributes=[
                    kv(A.GEN_AI_OPERATION_NAME, "execute_tool"),
                    kv(A.GEN_AI_TOOL_NAME, "docker_ps"),
                    kv(A.RUN_ID, run_id),
                    kv(A.STEP_ACTION_TYPE, "tool_call"),
                    kv(A.GEN_AI_TOOL_CALL_ARGUMENTS, json.dumps({"all": True, "i": i})),
                    kv(A.GEN_AI_TOOL_CALL_RESULT, f"result {i} {filler}"),
                ],
            )
        )
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", service))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests.reliability"
    scope_spans.spans.extend(spans)
    return RunRequest(run_id, trace_id, run_span_id, step_ids, message)


def to_otlp_json(request: ExportTraceServiceRequest, *, upper: bool = False) -> dict[str, Any]:
    """OTLP/JSON as the spec writes it: ids in hex, not proto3 JSON's base64."""
    document = json_format.MessageToDict(request)

    def hexify(value: str) -> str:
        out = base64.b64decode(value).hex()
        return out.upper() if upper else out

    for rs in document.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = hexify(span[key])
    return document
