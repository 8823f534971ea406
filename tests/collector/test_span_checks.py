"""Span checks on decoded requests: a value that cannot be stored rejects its span,
wherever it sits (a flat map, a nested one, the resource the spans share)."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from collector.decode import decode_message


def _request(spans: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add(key="service.name")
    attribute.value.string_value = "agent"
    scope_spans = resource_spans.scope_spans.add()
    for index in range(spans):
        span = scope_spans.spans.add(
            trace_id=bytes.fromhex("1" * 32),
            span_id=(index + 1).to_bytes(8, "big"),
            name=f"step {index}",
            start_time_unix_nano=1,
            end_time_unix_nano=2,
        )
        span.attributes.add(key="n").value.int_value = index
        span.attributes.add(key="ratio").value.double_value = 0.5
    return request


def _nested(depth: int, leaf: float) -> AnyValue:
    value = AnyValue(double_value=leaf)
    for _ in range(depth):
        outer = AnyValue()
        outer.array_value.values.append(value)
        value = outer
    return value


def test_a_flat_request_of_plain_values_is_stored_whole() -> None:
    decoded = decode_message(_request(3))
    assert (len(decoded.spans), decoded.rejected) == (3, 0)


def test_a_value_that_is_not_finite_rejects_its_span_only() -> None:
    request = _request(3)
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[1].attributes[1].value.double_value = float("nan")
    spans[2].attributes.add(key="deep").value.CopyFrom(_nested(3, float("inf")))
    decoded = decode_message(request)
    assert [s.name for s in decoded.spans] == ["step 0"]
    assert decoded.rejected == 2
    assert "'ratio' is nan" in decoded.error_message


def test_nesting_past_the_limit_rejects_the_span() -> None:
    request = _request(2)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.add(key="deep").value.CopyFrom(_nested(40, 1.0))
    decoded = decode_message(request)
    assert [s.name for s in decoded.spans] == ["step 1"]
    assert "nested deeper than 32 levels" in decoded.error_message


def test_a_bad_resource_value_rejects_every_span_it_covers() -> None:
    request = _request(3)
    resource = request.resource_spans[0].resource
    resource.attributes.add(key="host.load").value.double_value = float("-inf")
    other = _request(2).resource_spans[0]
    for span in other.scope_spans[0].spans:
        span.span_id = (int.from_bytes(span.span_id, "big") + 10).to_bytes(8, "big")
    request.resource_spans.append(other)
    decoded = decode_message(request)
    assert [s.name for s in decoded.spans] == ["step 0", "step 1"]  # the other resource's
    assert decoded.rejected == 3
    assert "resource attribute 'host.load' is -inf" in decoded.error_message
