"""Two different spans with the same ids in one request: the second is rejected, named.

The store keeps the first span of a (trace id, span id) and skips the others
(a later version must not rewrite a run). Within one request the skipped one was
dropped unseen and the request acknowledged whole: a sender whose span ids wrap
(here, 600 steps whose ids repeat every 255) lost 345 steps without a word. Now
each such span counts in ``partial_success.rejected_spans`` with a message
naming it; an identical copy is still stored once, silently.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.reliability.otlp_requests import build_run_request, to_otlp_json
from tests.conftest import CollectorHandle
from tests.security.test_otlp_salvage import post, stored

PROTOCOLS = ("grpc", "http-protobuf", "http-json")


def _body(protocol: str, request: ExportTraceServiceRequest) -> bytes:
    if protocol == "http-json":
        return json.dumps(to_otlp_json(request)).encode()
    return request.SerializeToString()


def _run_total_steps(handle: CollectorHandle, run_id: str) -> int:
    rows = handle.query("SELECT total_steps FROM agent_runs WHERE id = ?", [run_id])
    return int(rows[0][0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_span_ids_that_wrap_within_a_request_are_rejected_not_dropped(
    module_collector: CollectorHandle, protocol: str
) -> None:
    run = build_run_request(31, PROTOCOLS.index(protocol), 600)
    spans = run.message.resource_spans[0].scope_spans[0].spans
    prefix = spans[0].span_id[:7]  # the run span's id ends in a zero byte
    for index, step in enumerate(spans[1:]):
        # An 8-bit counter (never zero) in the low byte: step 255 re-uses step 0's id.
        step.span_id = prefix + bytes([index % 255 + 1])
    expected_unique = 255
    rejected, message = post(module_collector, protocol, _body(protocol, run.message))
    assert rejected == 600 - expected_unique, message
    assert "came earlier in this request with the same span id" in message, message
    names = stored(module_collector, run.trace_id, "span_id")
    assert len(names) == 1 + expected_unique
    assert _run_total_steps(module_collector, run.run_id) == expected_unique
    # The first of each id is the one kept: step 0's arguments, not step 256's.
    first = spans[1]
    kept = module_collector.query(
        "SELECT tool_args FROM agent_steps WHERE trace_id = ? AND span_id = ?",
        [run.trace_id, first.span_id.hex()],
    )
    assert json.loads(kept[0][0])["i"] == 0


@pytest.mark.parametrize("protocol", ["grpc", "http-json"])
def test_the_same_span_twice_in_a_request_is_stored_once_silently(
    module_collector: CollectorHandle, protocol: str
) -> None:
    run = build_run_request(32, PROTOCOLS.index(protocol), 3)
    scope = run.message.resource_spans[0].scope_spans[0]
    scope.spans.extend(list(scope.spans))
    rejected, message = post(module_collector, protocol, _body(protocol, run.message))
    assert (rejected, message) == (0, "")
    assert len(stored(module_collector, run.trace_id, "span_id")) == 4
    assert _run_total_steps(module_collector, run.run_id) == 3


def test_the_same_span_id_in_two_traces_is_two_spans(module_collector: CollectorHandle) -> None:
    # Span ids are unique within a trace only: no collision across traces.
    one, two = build_run_request(33, 1, 2), build_run_request(33, 2, 2)
    second = two.message.resource_spans[0].scope_spans[0].spans
    for span, model in zip(second, one.message.resource_spans[0].scope_spans[0].spans, strict=True):
        span.span_id = model.span_id
        if span.parent_span_id:
            span.parent_span_id = model.parent_span_id
    request = ExportTraceServiceRequest()
    request.resource_spans.extend([*one.message.resource_spans, *two.message.resource_spans])
    rejected, message = post(module_collector, "http-protobuf", request.SerializeToString())
    assert (rejected, message) == (0, "")
    assert len(stored(module_collector, one.trace_id, "span_id")) == 3
    assert len(stored(module_collector, two.trace_id, "span_id")) == 3
