"""A field sent with the wrong wire type costs its span, never the field silently.

protobuf parsers keep a field whose wire type does not match the schema as an
unknown field: a span whose status came as a number parsed without error and
was stored with no status (a failed step read as not failed), a start time sent
as a varint became 1970, and a scope's spans sent as a group were dropped while
the request was acknowledged whole. Now such a span is rejected alone and named
by field (OTLP partial success); a resource or scope holding one costs its
spans; a field number the schema does not know is still ignored.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf.internal.encoder import _VarintBytes
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import CollectorHandle
from tests.security.test_otlp_salvage import (
    VICTIM,
    fresh_request,
    post,
    stored,
    trace_of,
    victim,
    wire_body,
)

PROTOCOLS = ["grpc", "http-protobuf"]


def _tag(number: int, wire_type: int) -> bytes:
    return _VarintBytes(number << 3 | wire_type)


def _delimited(number: int, payload: bytes) -> bytes:
    return _tag(number, 2) + _VarintBytes(len(payload)) + payload


def _without(*fields: str) -> Callable[[bytes], Span]:
    def parse(span_bytes: bytes) -> Span:
        span = Span.FromString(span_bytes)
        for name in fields:
            span.ClearField(name)
        return span

    return parse


def _status_as_number(span_bytes: bytes) -> bytes:
    # STATUS_CODE_ERROR where a Status message belongs.
    return _without("status")(span_bytes).SerializeToString() + _tag(15, 0) + b"\x02"


def _start_as_varint(span_bytes: bytes) -> bytes:
    span = Span.FromString(span_bytes)
    start = span.start_time_unix_nano
    span.ClearField("start_time_unix_nano")
    return span.SerializeToString() + _tag(7, 0) + _VarintBytes(start)


def _kind_as_bytes(span_bytes: bytes) -> bytes:
    return _without("kind")(span_bytes).SerializeToString() + _delimited(6, b"\x03")


def _status_code_as_bytes(span_bytes: bytes) -> bytes:
    status = _delimited(2, b"the tool failed") + _delimited(3, b"\x02")
    return _without("status")(span_bytes).SerializeToString() + _delimited(15, status)


def _attribute_as_fixed32(span_bytes: bytes) -> bytes:
    return span_bytes + _tag(9, 5) + b"\x01\x02\x03\x04"


def _attributes_as_group(span_bytes: bytes) -> bytes:
    return span_bytes + _tag(9, 3) + _tag(9, 4)


def _event_time_as_bytes(span_bytes: bytes) -> bytes:
    return span_bytes + _delimited(11, _delimited(1, b"\x00" * 8) + _delimited(2, b"tick"))


def _deep_int_as_bytes(span_bytes: bytes) -> bytes:
    # attributes[k].value.kvlist_value.values[0].value.int_value as bytes.
    inner_value = _delimited(3, b"\x05")
    inner = _delimited(1, b"count") + _delimited(2, inner_value)
    value = _delimited(6, _delimited(1, inner))
    return span_bytes + _delimited(9, _delimited(1, b"usage") + _delimited(2, value))


def _link_span_id_as_varint(span_bytes: bytes) -> bytes:
    link = _delimited(1, b"\x01" * 16) + _tag(2, 0) + b"\x07"
    return span_bytes + _delimited(13, link)


SPOILERS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "status as a number": (_status_as_number, "field status (15) was sent as varint"),
    "start time as a varint": (_start_as_varint, "start_time_unix_nano (7) was sent as varint"),
    "kind as bytes": (_kind_as_bytes, "field kind (6) was sent as length-delimited"),
    "status code as bytes": (_status_code_as_bytes, "status.field code (3)"),
    "attribute as 32 bits": (_attribute_as_fixed32, "field attributes (9) was sent as 32-bit"),
    "attributes as a group": (_attributes_as_group, "field attributes (9) was sent as group"),
    "event time as bytes": (_event_time_as_bytes, "events[0].field time_unix_nano (1)"),
    "int deep in a kvlist as bytes": (_deep_int_as_bytes, "kvlist_value.values[0].value.field"),
    "link span id as a varint": (_link_span_id_as_varint, "links[0].field span_id (2)"),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("case", sorted(SPOILERS))
def test_a_span_with_a_field_of_the_wrong_wire_type_is_rejected_alone(
    module_collector: CollectorHandle, protocol: str, case: str
) -> None:
    spoil, reason = SPOILERS[case]
    request = fresh_request()
    body = wire_body(request, spoil)
    # The parser itself takes it without complaint: that was the trap.
    ExportTraceServiceRequest.FromString(body)
    rejected, message = post(module_collector, protocol, body)
    assert rejected == 1, message
    assert f"span {victim(request).span_id.hex()}" in message and reason in message, message
    names = stored(module_collector, trace_of(request), "name")
    assert len(names) == 99 and victim(request).name not in names


def test_an_unknown_field_number_is_still_ignored(module_collector: CollectorHandle) -> None:
    # A newer schema's field: protobuf's rule is to skip it, and so does the collector.
    request = fresh_request()
    body = wire_body(request, lambda span: span + _tag(99, 0) + b"\x05" + _delimited(98, b"x"))
    rejected, message = post(module_collector, "http-protobuf", body)
    assert (rejected, message) == (0, "")
    assert len(stored(module_collector, trace_of(request), "name")) == 100


def test_a_misplaced_field_in_a_span_whose_text_is_repaired_is_still_found(
    module_collector: CollectorHandle,
) -> None:
    # Invalid UTF-8 sends the request down the salvage path, which copies spans field
    # by field: a field kept as unknown would be left behind there too.
    def spoil(span_bytes: bytes) -> bytes:
        span = Span.FromString(span_bytes)
        span.name = "MARK"
        return _start_as_varint(span.SerializeToString()).replace(b"MARK", b"M\xffRK")

    request = fresh_request()
    rejected, message = post(module_collector, "grpc", wire_body(request, spoil))
    assert rejected == 1, message
    assert f"span {VICTIM} does not parse" in message and "start_time_unix_nano" in message
    assert len(stored(module_collector, trace_of(request), "name")) == 99


def _two_resources(second: bytes) -> tuple[ExportTraceServiceRequest, bytes]:
    good = fresh_request()
    return good, good.SerializeToString() + _delimited(1, second)


def test_a_resource_holding_a_misplaced_field_costs_its_spans_only(
    module_collector: CollectorHandle,
) -> None:
    other = fresh_request()
    resource_spans = other.resource_spans[0]
    # service.name's value with its string sent as a number.
    attribute = _delimited(1, b"service.name") + _delimited(2, _tag(1, 0) + b"\x07")
    spoiled = _delimited(1, _delimited(1, attribute)) + _delimited(
        2, resource_spans.scope_spans[0].SerializeToString()
    )
    good, body = _two_resources(spoiled)
    rejected, message = post(module_collector, "http-protobuf", body)
    assert rejected == 100, message
    assert "resource 1: resource.attributes[0].value.field string_value (1)" in message, message
    assert len(stored(module_collector, trace_of(good), "name")) == 100
    assert stored(module_collector, trace_of(other), "name") == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("second", "reason"),
    [
        (_tag(2, 0) + b"\x05", "resource 1: field scope_spans (2) was sent as varint"),
        (_delimited(2, _tag(2, 3) + _tag(2, 4)), "resource 1, scope 0: field spans (2)"),
    ],
    ids=["scope spans as a number", "spans as a group"],
)
def test_spans_sent_where_no_reader_finds_them_are_never_a_clean_answer(
    module_collector: CollectorHandle, protocol: str, second: bytes, reason: str
) -> None:
    # Their number cannot be known: at least one is counted, and the field named.
    good, body = _two_resources(second)
    rejected, message = post(module_collector, protocol, body)
    assert rejected == 1 and reason in message, message
    assert len(stored(module_collector, trace_of(good), "name")) == 100


def test_a_request_taken_apart_still_counts_spans_no_reader_finds(
    module_collector: CollectorHandle,
) -> None:
    # Invalid UTF-8 makes the collector take the request apart with a schema of its
    # own, where a resource's scope list sent as a number is an unknown field too.
    def broken_name(span_bytes: bytes) -> bytes:
        span = Span.FromString(span_bytes)
        span.name = "MARK"
        return span.SerializeToString().replace(b"MARK", b"M\xffRK")

    good = fresh_request()
    body = wire_body(good, broken_name) + _delimited(1, _tag(2, 0) + b"\x05")
    rejected, message = post(module_collector, "http-protobuf", body)
    assert rejected == 1, message
    assert "resource 1: field scope_spans (2) was sent as varint" in message, message
    assert "stored as U+FFFD" in message, message
    assert len(stored(module_collector, trace_of(good), "name")) == 100


def test_a_body_writing_default_values_out_is_stored_whole(
    module_collector: CollectorHandle,
) -> None:
    # protobuf.js writes zero values it was given (dropped counts, kind 0): not
    # protobuf's own encoding, but nothing misplaced.
    request = fresh_request()
    body = wire_body(request, lambda span: span + _tag(10, 0) + b"\x00" + _tag(12, 0) + b"\x00")
    rejected, message = post(module_collector, "grpc", body)
    assert (rejected, message) == (0, "")
    assert len(stored(module_collector, trace_of(request), "name")) == 100
