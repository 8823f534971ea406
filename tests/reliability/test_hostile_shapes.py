"""Hostile shapes and numbers: a trace built to be expensive or out of range is
stored like any other, and costs only itself.

- Agent runs nested thousands deep in one trace (each a sub-agent of the one
  above) are linked in one pass: the request is answered, every run stored
  with its parent, and the collector keeps taking other requests.
- Parent cycles (two spans each other's parent) do not loop; a span that is its
  own parent is refused alone.
- Token counts that are not counts (2^63-1, 1e300, negative, text) are left
  out of the token columns instead of failing the commit of the whole
  request; the raw attribute stays in ``spans.attributes``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.reliability.otlp_requests import kv
from collector.decode import SpanRecord
from collector.mapping import MAX_TOKEN_COUNT
from collector.run_tree import own_spans_by_run
from instrumentation import attributes as A
from tests.conftest import CollectorHandle
from tests.records import span_record


@pytest.fixture(scope="module")
def handle(module_collector: CollectorHandle) -> CollectorHandle:
    return module_collector


def _span(trace: bytes, parent: bytes | None, name: str, operation: str, **attrs: Any) -> Span:
    start = time.time_ns()
    span = Span(
        trace_id=trace,
        span_id=os.urandom(8),
        parent_span_id=parent or b"",
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1_000_000,
        attributes=[kv(A.GEN_AI_OPERATION_NAME, operation)],
    )
    span.attributes.extend(kv(key, value) for key, value in attrs.items())
    return span


# OTLP exporters give up on a request after 10 s by default
# (OTEL_EXPORTER_OTLP_TIMEOUT) and send it again: an answer later than that is
# no answer. (Linking 3000 nested runs took 80 s when each run walked the trace.)
EXPORTER_TIMEOUT_S = 10.0


def _post(handle: CollectorHandle, spans: list[Span]) -> httpx.Response:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    return httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
        timeout=EXPORTER_TIMEOUT_S,
    )


def _runs_of(handle: CollectorHandle, trace: bytes) -> dict[str, Any]:
    rows = handle.query(
        "SELECT span_id, parent_run_id, task FROM agent_runs WHERE trace_id = ?", [trace.hex()]
    )
    return {span_id: (parent, task) for span_id, parent, task in rows}


def test_agents_nested_thousands_deep_are_each_a_run_under_their_parent(
    handle: CollectorHandle,
) -> None:
    depth = 3000
    trace = os.urandom(16)
    spans = [_span(trace, None, "invoke_agent top", "invoke_agent")]
    for level in range(1, depth):
        spans.append(_span(trace, spans[-1].span_id, f"invoke_agent level-{level}", "invoke_agent"))
    bottom = spans[-1]
    call = _span(
        trace,
        bottom.span_id,
        "chat deepest",
        "chat",
        **{A.GEN_AI_INPUT_MESSAGES: json.dumps([{"role": "user", "content": "deepest task"}])},
    )
    response = _post(handle, [*spans, call])
    assert response.status_code == 200, response.text
    runs = _runs_of(handle, trace)
    assert len(runs) == depth
    run_id_of = {span_id: span_id for span_id in runs}  # foreign runs: id = span id
    for parent, child in zip(spans, spans[1:], strict=False):
        assert runs[child.span_id.hex()][0] == run_id_of[parent.span_id.hex()]
    # The model call belongs to the deepest agent alone: its task is that run's only.
    tasks = {span_id: task for span_id, (_, task) in runs.items() if task}
    assert tasks == {bottom.span_id.hex(): "deepest task"}
    # And the collector still takes an ordinary request.
    other = os.urandom(16)
    assert (
        _post(handle, [_span(other, None, "invoke_agent after", "invoke_agent")]).status_code == 200
    )
    assert len(_runs_of(handle, other)) == 1


def test_parent_cycles_are_stored_and_do_not_loop(handle: CollectorHandle) -> None:
    trace = os.urandom(16)
    root = _span(trace, None, "invoke_agent cyclic", "invoke_agent")
    a = _span(trace, None, "invoke_agent a", "invoke_agent")
    b = _span(trace, a.span_id, "invoke_agent b", "invoke_agent")
    a.parent_span_id = b.span_id  # a <-> b
    selfish = _span(trace, None, "chat selfish", "chat")
    selfish.parent_span_id = selfish.span_id
    response = _post(handle, [root, a, b, selfish])
    assert response.status_code == 200, response.text
    # The span that is its own parent is refused (partial success); the cycle is stored.
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    stored = handle.query("SELECT count(*) FROM spans WHERE trace_id = ?", [trace.hex()])
    assert stored == [(3,)]


NOT_COUNTS = {
    "2^63-1": 2**63 - 1,
    "1e300": 1e300,
    "negative": -5,
    "text": "lots",
    "over a trillion": MAX_TOKEN_COUNT + 1,
}


@pytest.mark.parametrize("case", sorted(NOT_COUNTS))
def test_a_token_count_that_is_not_a_count_costs_nothing_else(
    handle: CollectorHandle, case: str
) -> None:
    trace = os.urandom(16)
    root = _span(trace, None, "invoke_agent tokens", "invoke_agent")
    good = _span(
        trace,
        root.span_id,
        "chat good",
        "chat",
        **{A.GEN_AI_USAGE_INPUT_TOKENS: 120, A.GEN_AI_USAGE_OUTPUT_TOKENS: 30},
    )
    bad = _span(
        trace,
        root.span_id,
        "chat bad",
        "chat",
        **{A.GEN_AI_USAGE_INPUT_TOKENS: NOT_COUNTS[case], A.GEN_AI_USAGE_OUTPUT_TOKENS: 7},
    )
    response = _post(handle, [root, good, bad])
    assert response.status_code == 200, response.text
    steps = dict(
        handle.query(
            "SELECT name, input_tokens FROM agent_steps WHERE agent_run_id = ?",
            [root.span_id.hex()],
        )
    )
    assert steps == {"chat good": 120, "chat bad": None}
    assert handle.query(
        "SELECT input_tokens, output_tokens FROM agent_runs WHERE span_id = ?",
        [root.span_id.hex()],
    ) == [(120, 37)]
    raw = handle.query("SELECT attributes FROM spans WHERE span_id = ?", [bad.span_id.hex()])
    assert A.GEN_AI_USAGE_INPUT_TOKENS in json.loads(raw[0][0])


# ---------------------------------------------------- one pass per trace


def _record(span_id: str, parent: str | None, name: str) -> SpanRecord:
    return span_record(span_id, name=name, parent_span_id=parent)


def _is_run(span: SpanRecord) -> bool:
    return span.name.startswith("run")


def test_each_span_belongs_to_its_nearest_run() -> None:
    spans = [
        _record("a" * 16, None, "run top"),
        _record("b" * 16, "a" * 16, "step of top"),
        _record("c" * 16, "b" * 16, "run nested"),
        _record("d" * 16, "c" * 16, "step of nested"),
        _record("e" * 16, "d" * 16, "deeper step of nested"),
        _record("f" * 16, "9" * 16, "orphan"),
    ]
    by_id = {s.span_id: s for s in spans}
    own = own_spans_by_run(by_id, _is_run, {"a" * 16})
    assert {run: sorted(s.name for s in owned) for run, owned in own.items()} == {
        "a" * 16: ["run nested", "step of top"],
        "c" * 16: ["deeper step of nested", "step of nested"],
    }


def test_a_cycle_belongs_to_no_run_and_a_chain_of_50000_needs_no_recursion() -> None:
    cycle = [_record("1" * 16, "2" * 16, "x"), _record("2" * 16, "1" * 16, "y")]
    assert own_spans_by_run({s.span_id: s for s in cycle}, _is_run, set()) == {}
    chain = [_record(f"{0:016x}", None, "run root")]
    chain += [_record(f"{i:016x}", f"{i - 1:016x}", f"step {i}") for i in range(1, 50_000)]
    own = own_spans_by_run({s.span_id: s for s in chain}, _is_run, set())
    assert len(own[f"{0:016x}"]) == 49_999
