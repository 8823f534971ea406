"""OpenInference agent runs that agent-audit and Arize Phoenix both read, as OTLP requests.

The runs are the captured LangGraph run (``tests/frameworks/captured/langgraph.otlp``:
openinference-instrumentation-langchain, an AGENT root, ``model`` / ``tools`` CHAIN nodes,
ChatOpenAI LLM spans, TOOL spans; its first ``get_weather`` call raises and the agent
recovers), replayed with fresh trace and span ids and start times spread over the last
hours, the scripted model renamed, wherever it is named, to a model both products price.

A failed run is the same run stopped at that raising tool: the spans that ended before the
tool started, the tool, and its ancestors, which end with it carrying its ERROR status and
exception event and no output, as the instrumentation records an exception that leaves the
graph (the capture's other run, a model error, has that shape).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

__all__ = ["PRICED_MODEL", "RunSet", "build_run_set"]

CAPTURE = Path(__file__).parent.parent / "tests/frameworks/captured/langgraph.otlp"
PRICED_MODEL = "gpt-4o"
# The scripted model's names in the capture (served, then requested), longest first.
_CAPTURED_MODELS = ("scripted-langgraph-served", "scripted-langgraph")
_KIND = "openinference.span.kind"
_OUTPUTS = ("output.value", "output.mime_type")
_ASKED = "llm.output_messages.0.message.tool_calls"


@dataclass(frozen=True)
class RunSet:
    """The requests to send and what a person looks for in them."""

    requests: list[bytes]
    runs: int
    failed: int
    error_text: str  # the failing tool's exception message
    prompt_text: str  # the user message of the first LLM call
    answer_text: str  # the tool the first LLM call asks for
    agent_name: str  # the root span's name


def _attr(span: Span, key: str) -> str:
    for kv in span.attributes:
        if kv.key == key:
            return str(kv.value.string_value)
    return ""


def _good_run(request: ExportTraceServiceRequest) -> tuple[ResourceSpans, list[Span]]:
    """The capture's run whose root ended OK, with the scope it came in."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            spans = list(scope_spans.spans)
            roots = [s for s in spans if not s.parent_span_id]
            for root in roots:
                if root.status.code != Status.STATUS_CODE_ERROR:
                    return resource_spans, [s for s in spans if s.trace_id == root.trace_id]
    raise ValueError(f"{CAPTURE} holds no run that ended OK")


def _failed_run(good: list[Span]) -> list[Span]:
    """``good`` stopped at its first raising tool, the error carried up to the root."""
    by_id = {s.span_id: s for s in good}
    raising = [s for s in good if s.status.code == Status.STATUS_CODE_ERROR]
    tool = min(
        (s for s in raising if _attr(s, _KIND) == "TOOL"), key=lambda s: s.start_time_unix_nano
    )
    ancestors: list[bytes] = []
    parent = tool.parent_span_id
    while parent in by_id:
        ancestors.append(parent)
        parent = by_id[parent].parent_span_id
    kept = [s for s in good if s.end_time_unix_nano <= tool.start_time_unix_nano]
    failed: list[Span] = [*kept, tool]
    for step, span_id in enumerate(ancestors, start=1):
        span = Span()
        span.CopyFrom(by_id[span_id])
        span.end_time_unix_nano = tool.end_time_unix_nano + step * 100_000
        span.status.CopyFrom(tool.status)
        del span.events[:]
        span.events.extend(tool.events)
        outputs = [kv for kv in span.attributes if kv.key not in _OUTPUTS]
        del span.attributes[:]
        span.attributes.extend(outputs)
        failed.append(span)
    return failed


def _replayed(spans: list[Span], start_ns: int, rng: random.Random) -> list[Span]:
    """``spans`` with fresh ids, moved to start at ``start_ns``, the model renamed."""
    trace_id = rng.randbytes(16)
    new_ids = {s.span_id: rng.randbytes(8) for s in spans}
    shift = start_ns - min(s.start_time_unix_nano for s in spans)
    out = []
    for old in spans:
        span = Span()
        span.CopyFrom(old)
        span.trace_id = trace_id
        span.span_id = new_ids[old.span_id]
        if old.parent_span_id:
            span.parent_span_id = new_ids[old.parent_span_id]
        span.start_time_unix_nano += shift
        span.end_time_unix_nano += shift
        for kv in span.attributes:
            if kv.value.HasField("string_value"):
                for name in _CAPTURED_MODELS:
                    kv.value.string_value = kv.value.string_value.replace(name, PRICED_MODEL)
        out.append(span)
    return out


def build_run_set(runs: int, failed: int, *, now_ns: int, per_request: int = 50) -> RunSet:
    """``runs`` runs, ``failed`` of them failed, one every 30 s up to ``now_ns``.

    The failed runs are drawn (seeded) from all but the newest 100, so neither UI shows
    one on its first page: a person has to filter for them.
    """
    if not 0 < failed <= max(runs - 100, 0):
        raise ValueError(f"--failed must be 1..{max(runs - 100, 0)} with {runs} runs")
    request = ExportTraceServiceRequest.FromString(CAPTURE.read_bytes())
    resource_spans, good = _good_run(request)
    bad = _failed_run(good)
    rng = random.Random(16)
    failed_at = set(rng.sample(range(100, runs), failed))
    requests = []
    for first in range(0, runs, per_request):
        out = ExportTraceServiceRequest()
        block = out.resource_spans.add()
        block.resource.CopyFrom(resource_spans.resource)
        scope = block.scope_spans.add()
        scope.scope.CopyFrom(resource_spans.scope_spans[0].scope)
        for index in range(first, min(first + per_request, runs)):
            start_ns = now_ns - (index + 1) * 30 * 10**9  # index 0 is the newest
            scope.spans.extend(_replayed(bad if index in failed_at else good, start_ns, rng))
        requests.append(out.SerializeToString())
    tool = next(s for s in bad if _attr(s, _KIND) == "TOOL")
    llm = next(s for s in bad if _attr(s, _KIND) == "LLM")
    return RunSet(
        requests=requests,
        runs=runs,
        failed=failed,
        error_text=next(
            str(kv.value.string_value)
            for event in tool.events
            for kv in event.attributes
            if kv.key == "exception.message"
        ),
        prompt_text=_attr(llm, "llm.input_messages.0.message.content"),
        answer_text=_attr(llm, f"{_ASKED}.0.tool_call.function.name"),
        agent_name=next(s.name for s in bad if not s.parent_span_id),
    )
