"""Agent-shaped OTLP trace requests, deterministic for a seed.

A run is one ``invoke_agent`` span (our conventions, instrumentation/attributes.py)
plus N step spans cycling chat -> execute_tool -> ... and ending with a
``response`` step; tool results are log-like text of 1-4 KB. Requests are
encoded straight to protobuf wire bytes (the OTLP messages are simple), which
is several times faster than building upb message objects; ``self_check``
parses one back with the real message classes.
"""

from __future__ import annotations

import json
import random
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from instrumentation import attributes as A

__all__ = ["WorkloadSpec", "EncodedRequest", "RunPlan", "corpus", "generate_requests", "self_check"]

_MODELS = ("qwen2.5-coder:7b", "llama3.1:8b", "mistral-small:24b")
_SOURCES = ("n8n", "api", "cli", "schedule")
_AGENTS = ("ops-agent", "triage-agent", "backup-agent")
_TOOLS = (
    ("docker_ps", {"all": True}),
    ("docker_logs", {"container": "homepage", "tail": 200}),
    ("docker_inspect", {"container": "db"}),
    ("docker_stats", {"no_stream": True}),
    ("disk_usage", {"path": "/srv"}),
)
_WORDS = (
    "container",
    "homepage",
    "exited",
    "restart",
    "memory",
    "limit",
    "disk",
    "volume",
    "network",
    "bridge",
    "postgres",
    "redis",
    "nginx",
    "backup",
    "cron",
    "failed",
    "healthy",
    "unhealthy",
    "timeout",
    "connection",
    "refused",
    "killed",
    "oom",
    "port",
    "mount",
    "image",
    "pull",
    "layer",
    "cache",
    "warning",
    "error",
    "info",
)


@dataclass(frozen=True)
class WorkloadSpec:
    """The shape of the load; equal specs give byte-identical requests."""

    runs: int = 2000
    steps: int = 8
    result_bytes: tuple[int, int] = (1024, 4096)
    runs_per_request: int = 50
    seed: int = 1
    base_time_ns: int = 1_790_000_000 * 10**9  # 2026-09-21; override to spread runs in time
    run_spacing_ns: int = 50 * 10**6  # start of run i = base + i * spacing
    service_name: str = "bench-agent"

    @property
    def spans_per_run(self) -> int:
        return 1 + self.steps

    @property
    def requests(self) -> int:
        return -(-self.runs // self.runs_per_request)


@dataclass(frozen=True)
class RunPlan:
    """What a request holds, for checking visibility afterwards."""

    run_ids: tuple[str, ...]
    spans: int


@dataclass(frozen=True)
class EncodedRequest:
    """One ExportTraceServiceRequest as wire bytes."""

    body: bytes
    plan: RunPlan


# --- protobuf wire encoding (https://protobuf.dev/programming-guides/encoding/) -----
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _len_field(field_no: int, payload: bytes) -> bytes:
    return _varint(field_no << 3 | 2) + _varint(len(payload)) + payload


def _fixed64_field(field_no: int, value: int) -> bytes:
    return _varint(field_no << 3 | 1) + struct.pack("<Q", value)


def _varint_field(field_no: int, value: int) -> bytes:
    return _varint(field_no << 3) + _varint(value & 0xFFFFFFFFFFFFFFFF)


def _key_value(key: str, value: str | int | bool) -> bytes:
    # AnyValue: 1 string, 2 bool, 3 int64.
    if isinstance(value, bool):
        any_value = _varint_field(2, int(value))
    elif isinstance(value, int):
        any_value = _varint_field(3, value)
    else:
        any_value = _len_field(1, value.encode())
    return _len_field(1, key.encode()) + _len_field(2, any_value)


def _attributes(attrs: dict[str, str | int | bool]) -> bytes:
    # Span/Resource attributes: field 9 on Span, field 1 on Resource; caller picks.
    return b"".join(_len_field(9, _key_value(k, v)) for k, v in attrs.items())


def _span(
    *,
    trace_id: bytes,
    span_id: bytes,
    parent_id: bytes | None,
    name: str,
    start_ns: int,
    end_ns: int,
    attrs: dict[str, str | int | bool],
    error: str | None = None,
) -> bytes:
    parts = [
        _len_field(1, trace_id),
        _len_field(2, span_id),
        _len_field(4, parent_id) if parent_id else b"",
        _len_field(5, name.encode()),
        _varint_field(6, 1),  # SPAN_KIND_INTERNAL
        _fixed64_field(7, start_ns),
        _fixed64_field(8, end_ns),
        _attributes(attrs),
    ]
    if error is not None:
        kind, _, message = error.partition(": ")
        event = (
            _len_field(2, b"exception")  # Event.name
            + b"".join(
                _len_field(3, _key_value(k, v))
                for k, v in (("exception.type", kind), ("exception.message", message))
            )
        )
        event = _fixed64_field(1, end_ns) + event
        parts.append(_len_field(11, event))
        parts.append(_len_field(15, _len_field(2, error.encode()) + _varint_field(3, 2)))
    return b"".join(parts)


def _request(resource: dict[str, str | int | bool], spans: list[bytes]) -> bytes:
    resource_msg = b"".join(_len_field(1, _key_value(k, v)) for k, v in resource.items())
    scope = _len_field(1, b"agent_audit.bench") + _len_field(2, b"0.1.0")
    scope_spans = _len_field(1, scope) + b"".join(_len_field(2, s) for s in spans)
    resource_spans = _len_field(1, resource_msg) + _len_field(2, scope_spans)
    return _len_field(1, resource_spans)


# --- content -----------------------------------------------------------------------
def corpus(rng: random.Random, size: int) -> str:
    """Log-like text: compressible the way real tool output is, but not trivially."""
    lines = []
    total = 0
    while total < size:
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 12)))
        line = f"2026-09-21T10:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z {words} "
        line += f"pid={rng.randint(1, 65535)} bytes={rng.randint(0, 10**9)}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)


class _RunBuilder:
    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.corpus = corpus(random.Random(spec.seed ^ 0x5EED), 256 * 1024)

    def text(self, rng: random.Random, low: int, high: int) -> str:
        size = rng.randint(low, high)
        start = rng.randrange(0, len(self.corpus) - size)
        return self.corpus[start : start + size]

    def run_spans(self, index: int) -> tuple[str, list[bytes]]:
        spec = self.spec
        rng = random.Random(spec.seed * 1_000_003 + index)
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        trace_id = rng.getrandbits(128).to_bytes(16, "big")
        run_span_id = rng.getrandbits(64).to_bytes(8, "big")
        model = rng.choice(_MODELS)
        agent = rng.choice(_AGENTS)
        start = spec.base_time_ns + index * spec.run_spacing_ns
        clock = start + rng.randint(1, 5) * 10**6
        roll = rng.random()
        status = "failed" if roll < 0.05 else ("max_steps" if roll < 0.08 else "completed")
        spans: list[bytes] = []
        tokens_in = tokens_out = 0
        for step in range(spec.steps):
            span_id = rng.getrandbits(64).to_bytes(8, "big")
            duration = rng.randint(20, 1500) * 10**6
            attrs: dict[str, str | int | bool] = {A.RUN_ID: run_id}
            error = None
            if step == spec.steps - 1:
                name = "response"
                attrs[A.STEP_ACTION_TYPE] = "response"
            elif step % 2 == 0:
                name = f"chat {model}"
                used_in, used_out = rng.randint(200, 4000), rng.randint(20, 600)
                tokens_in += used_in
                tokens_out += used_out
                attrs |= {
                    A.STEP_ACTION_TYPE: "think",
                    A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
                    A.GEN_AI_REQUEST_MODEL: model,
                    A.GEN_AI_RESPONSE_MODEL: model,
                    A.GEN_AI_PROVIDER_NAME: "ollama",
                    A.GEN_AI_USAGE_INPUT_TOKENS: used_in,
                    A.GEN_AI_USAGE_OUTPUT_TOKENS: used_out,
                    A.STEP_THINKING: self.text(rng, 80, 400),
                }
            else:
                tool, args = _TOOLS[rng.randrange(len(_TOOLS))]
                name = f"execute_tool {tool}"
                attrs |= {
                    A.STEP_ACTION_TYPE: "tool_call",
                    A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL,
                    A.GEN_AI_TOOL_NAME: tool,
                    A.GEN_AI_TOOL_CALL_ID: f"call_{rng.getrandbits(48):012x}",
                    A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(args),
                    A.GEN_AI_TOOL_CALL_RESULT: self.text(rng, *spec.result_bytes),
                }
                if rng.random() < 0.03:
                    error = "TimeoutError: command did not finish in 30 s"
                    attrs[A.STEP_ERROR] = error
                    attrs[A.ERROR_TYPE] = "TimeoutError"
            spans.append(
                _span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_id=run_span_id,
                    name=name,
                    start_ns=clock,
                    end_ns=clock + duration,
                    attrs=attrs,
                    error=error,
                )
            )
            clock += duration + rng.randint(1, 20) * 10**6
        run_attrs: dict[str, str | int | bool] = {
            A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT,
            A.GEN_AI_AGENT_NAME: agent,
            A.RUN_ID: run_id,
            A.RUN_TASK: f"Investigate {self.text(rng, 40, 120).splitlines()[0]}",
            A.RUN_SOURCE: rng.choice(_SOURCES),
            A.RUN_TRIGGERED_BY: f"workflow:{rng.randint(1, 40)}/execution:{index}",
            A.RUN_BACKEND: rng.choice(("3090", "a100", "cpu")),
            A.RUN_WORKING_DIRECTORY: "/srv",
            A.GEN_AI_REQUEST_MODEL: model,
            A.GEN_AI_RESPONSE_MODEL: model,
            A.GEN_AI_PROVIDER_NAME: "ollama",
            A.RUN_STATUS: status,
            A.RUN_FINAL_ANSWER: self.text(rng, 100, 300),
            A.RUN_METADATA: json.dumps({"host": f"nas{index % 7}", "attempt": 1}),
        }
        error = None
        if status == "failed":
            error = "RuntimeError: the agent gave up after a tool error"
            run_attrs[A.RUN_ERROR] = error
            run_attrs[A.ERROR_TYPE] = "RuntimeError"
        spans.insert(
            0,
            _span(
                trace_id=trace_id,
                span_id=run_span_id,
                parent_id=None,
                name=f"invoke_agent {agent}",
                start_ns=start,
                end_ns=clock,
                attrs=run_attrs,
                error=error,
            ),
        )
        return run_id, spans


def generate_requests(
    spec: WorkloadSpec, request_indexes: range | None = None
) -> Iterator[EncodedRequest]:
    """The requests of the load (or a slice of them, for one client), in order."""
    builder = _RunBuilder(spec)
    resource: dict[str, str | int | bool] = {
        A.SERVICE_NAME: spec.service_name,
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.45.2",
    }
    for request_index in request_indexes or range(spec.requests):
        first = request_index * spec.runs_per_request
        last = min(spec.runs, first + spec.runs_per_request)
        run_ids: list[str] = []
        spans: list[bytes] = []
        for run_index in range(first, last):
            run_id, run_spans = builder.run_spans(run_index)
            run_ids.append(run_id)
            spans.extend(run_spans)
        yield EncodedRequest(_request(resource, spans), RunPlan(tuple(run_ids), len(spans)))


def self_check(spec: WorkloadSpec) -> None:
    """Parse the first request with the real classes and the collector's decoder."""
    from collector.decode import decode_protobuf
    from collector.mapping import SpanClass, classify

    first = next(generate_requests(spec, range(1)))
    decoded = decode_protobuf(first.body)
    if decoded.rejected or len(decoded.spans) != first.plan.spans:
        raise AssertionError(f"generator produced bad spans: {decoded.error_message}")
    classes = [classify(s) for s in decoded.spans]
    if classes.count(SpanClass.RUN) != len(first.plan.run_ids):
        raise AssertionError(f"expected one run span per run, got {classes}")
    if SpanClass.OTHER in classes:
        raise AssertionError("a generated span is not recognised as a run or a step")
