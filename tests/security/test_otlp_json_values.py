"""OTLP/JSON values the parser used to coerce are refused, each costing only its span.

Found from outside: ``"kind": "NOPE"`` was stored as kind 0, ``"kind": 99`` and
``"status": {"code": 7}`` as they came, ``true`` as an enum 1 or a double 0.0,
``"bytesValue": "not base64!"`` as whatever bytes a lenient decoder made of it,
``"status": "x"`` dropped unseen, ``"1_000"`` and non-ASCII digits read as numbers.
The cases below are generated from the protobuf descriptors, so every field of a
span, event, link, status, attribute and value is tried with a value of the wrong
JSON type, every enum with values outside it, and every bytes field with text
that is not base64 (or, for ids, not hex). Protobuf senders get the same answer
for enum numbers outside the enum (the only one of these a protobuf can carry).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.decode import decode_json
from tests.conftest import CollectorHandle, start_test_collector

TRACE = "5b8efff798038103d269b633813fc60c"


def _span(index: int) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": f"{index + 1:016x}",
        "parentSpanId": "",
        "name": f"step {index}",
        "kind": 1,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": "n", "value": {"intValue": str(index)}}],
        "events": [{"name": "tick", "timeUnixNano": "1700000000500000000", "attributes": []}],
        "links": [{"traceId": TRACE, "spanId": "00000000000000ff", "attributes": []}],
        "status": {"code": 1, "message": ""},
    }


# A JSON value of the wrong type for each kind of field, and values of the right
# JSON type that the field still cannot hold.
_WRONG_TYPE = {
    FieldDescriptor.TYPE_STRING: [5, True, {}, []],
    FieldDescriptor.TYPE_BOOL: ["true", 1, {}],
    FieldDescriptor.TYPE_MESSAGE: ["x", 5, [], True],
    FieldDescriptor.TYPE_ENUM: ["NOPE", 99, -1, "99", 1.5, True, [], {}],
    FieldDescriptor.TYPE_BYTES: ["not base64!", "%%%%", "YQ=A", 5, {}],
    FieldDescriptor.TYPE_DOUBLE: ["x", True, False, {}, "1_0"],
}
_INTEGER_WRONG = ["abc", True, {}, [], 1.5, "1_000", " 1", "١٢", "0x10"]
_IDS = {"traceId", "spanId", "parentSpanId"}
_HEX_WRONG = ["zz" * 8, "ASNFZ4mrze8BI0VniavN7w==", 5, "0123"]


def _wrong_values(field: FieldDescriptor) -> list[Any]:
    if field.is_repeated:
        return ["x", {"a": 1}, 5]
    if field.json_name in _IDS:
        return _HEX_WRONG
    return _WRONG_TYPE.get(field.type, _INTEGER_WRONG)


def _cases(descriptor: Descriptor, place: str) -> Iterator[tuple[str, str, Any]]:
    """(place, field's JSON name, wrong value) for each field of ``descriptor``."""
    for field in descriptor.fields:
        if field.json_name in {"keyStrindex", "stringValueStrindex"}:
            continue  # profiles-only fields: any integer is as good as another here
        for value in _wrong_values(field):
            yield place, field.json_name, value


def _all_cases() -> list[tuple[str, str, Any]]:
    cases = list(_cases(Span.DESCRIPTOR, "span"))
    nested = Span.DESCRIPTOR.fields_by_name
    cases += _cases(nested["events"].message_type, "event")
    cases += _cases(nested["links"].message_type, "link")
    cases += _cases(nested["status"].message_type, "status")
    cases += _cases(nested["attributes"].message_type, "attribute")
    for place in ("attribute value", "array element", "kvlist value"):
        cases += _cases(AnyValue.DESCRIPTOR, place)
    return cases


CASES = _all_cases()


def _spoil(span: dict[str, Any], place: str, name: str, value: Any) -> None:
    if place == "span":
        span[name] = value
    elif place == "event":
        span["events"][0][name] = value
    elif place == "link":
        span["links"][0][name] = value
    elif place == "status":
        span["status"][name] = value
    elif place == "attribute":
        span["attributes"][0][name] = value
    elif place == "attribute value":
        span["attributes"][0]["value"] = {name: value}
    elif place == "array element":
        span["attributes"][0]["value"] = {"arrayValue": {"values": [{name: value}]}}
    else:
        inner = {"key": "k", "value": {name: value}}
        span["attributes"][0]["value"] = {"kvlistValue": {"values": [inner]}}


def _body(spans: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> bytes:
    scope = {"scope": {"name": "values"}, "spans": spans}
    resource_spans = {"resource": resource or {"attributes": []}, "scopeSpans": [scope]}
    return json.dumps({"resourceSpans": [resource_spans]}).encode()


def test_the_good_span_is_stored_as_sent() -> None:
    decoded = decode_json(_body([_span(0)]))
    assert (len(decoded.spans), decoded.rejected) == (1, 0), decoded.error_message
    assert (decoded.spans[0].kind, decoded.spans[0].status_code) == (1, 1)


@pytest.mark.parametrize(
    ("place", "name", "value"), CASES, ids=[f"{p} {n}={json.dumps(v)}" for p, n, v in CASES]
)
def test_a_value_the_field_cannot_hold_rejects_its_span_only(
    place: str, name: str, value: Any
) -> None:
    spans = [_span(index) for index in range(3)]
    _spoil(spans[1], place, name, value)
    decoded = decode_json(_body(spans))
    assert decoded.rejected == 1, (decoded.error_message, [s.name for s in decoded.spans])
    assert [s.name for s in decoded.spans] == ["step 0", "step 2"]
    message = decoded.error_message
    assert "span 1 does not parse" in message, message
    if (place, name) != ("span", "spanId"):
        assert "0000000000000002" in message, message
    # The field is named: by its JSON name, or (ids) by its protobuf name.
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    assert name in message or snake in message, message


@pytest.mark.parametrize(
    "value",
    ["YQ", "YQ==", "-_8=", "+/8=", "", "AAEC", "zz"],
)
def test_base64_as_proto3_json_allows_it_is_stored(value: str) -> None:
    span = _span(0)
    span["attributes"] = [{"key": "b", "value": {"bytesValue": value}}]
    decoded = decode_json(_body([span]))
    assert decoded.rejected == 0, decoded.error_message
    assert isinstance(decoded.spans[0].attributes["b"], str)


@pytest.mark.parametrize(
    ("kind", "stored"),
    [("SPAN_KIND_SERVER", 2), ("2", 2), (5, 5), (0, 0), (2.0, 2), (None, 0)],
)
def test_enum_values_inside_the_enum_are_stored(kind: Any, stored: int) -> None:
    span = _span(0)
    span["kind"] = kind
    decoded = decode_json(_body([span]))
    assert [s.kind for s in decoded.spans] == [stored], decoded.error_message


@pytest.mark.parametrize("where", ["resource", "scope"])
def test_a_bad_bytes_value_in_a_resource_or_scope_costs_its_spans(where: str) -> None:
    bad = {"attributes": [{"key": "b", "value": {"bytesValue": "not base64!"}}]}
    spans = [_span(index) for index in range(2)]
    if where == "resource":
        body = _body(spans, resource=bad)
    else:
        document = json.loads(_body(spans))
        document["resourceSpans"][0]["scopeSpans"][0]["scope"] = {"name": "s", **bad}
        body = json.dumps(document).encode()
    decoded = decode_json(body)
    assert (decoded.spans, decoded.rejected) == ([], 2)
    assert "bytesValue" in decoded.error_message and where in decoded.error_message


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(tmp_path / "values.duckdb")
    try:
        yield collector
    finally:
        collector.stop()


def _post_json(handle: CollectorHandle, body: bytes) -> dict[str, Any]:
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:500]
    answer: dict[str, Any] = response.json()
    return answer


def test_over_http_every_bad_span_is_counted_and_nothing_stored_is_lost(
    handle: CollectorHandle,
) -> None:
    earlier = [_span(index) for index in range(5)]
    assert _post_json(handle, _body(earlier)) == {}
    before = handle.query("SELECT span_id, name, kind, status_code FROM spans ORDER BY span_id")
    spans = [_span(1000 + index) for index in range(len(CASES))]
    good = [_span(5000 + index) for index in range(10)]
    for span, (place, name, value) in zip(spans, CASES, strict=True):
        _spoil(span, place, name, value)
    # Each bad span also repeats the id of a stored span: refusing it must not touch that row.
    for index, span in enumerate(spans[-5:]):
        span["spanId"] = earlier[index]["spanId"]
    answer = _post_json(handle, _body(spans + good))
    partial = answer["partialSuccess"]
    assert int(partial["rejectedSpans"]) == len(CASES), partial
    assert "does not parse" in partial["errorMessage"]
    stored = handle.query("SELECT span_id, name, kind, status_code FROM spans ORDER BY span_id")
    assert [row for row in stored if row[1].startswith("step 5")] == [
        (f"{5000 + i + 1:016x}", f"step {5000 + i}", 1, 1) for i in range(10)
    ]
    assert [row for row in stored if not row[1].startswith("step 5")] == before


def _protobuf_request(kind: int, status_code: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for index, (span_kind, code) in enumerate([(1, 1), (kind, status_code), (2, 0)]):
        span = scope_spans.spans.add(
            trace_id=bytes.fromhex(TRACE),
            span_id=(index + 1).to_bytes(8, "big"),
            name=f"proto {index}",
            kind=span_kind,  # type: ignore[arg-type]
            start_time_unix_nano=1,
            end_time_unix_nano=2,
        )
        span.status.code = code  # type: ignore[assignment]
    return request


@pytest.mark.parametrize(
    ("kind", "status_code", "named"), [(99, 1, "SpanKind"), (1, 7, "StatusCode"), (-3, 0, "Kind")]
)
@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf"])
def test_protobuf_enum_numbers_outside_the_enum_reject_their_span(
    handle: CollectorHandle, protocol: str, kind: int, status_code: int, named: str
) -> None:
    request = _protobuf_request(kind, status_code)
    if protocol == "grpc":
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            answer = TraceServiceStub(channel).Export(request, timeout=30)
        partial = answer.partial_success
        rejected, message = partial.rejected_spans, partial.error_message
    else:
        response = httpx.post(
            handle.http_endpoint + "/v1/traces",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
            timeout=30,
        )
        assert response.status_code == 200
        parsed = ExportTraceServiceResponse.FromString(response.content)
        rejected = parsed.partial_success.rejected_spans
        message = parsed.partial_success.error_message
    assert rejected == 1 and named in message and "0000000000000002" in message, message
    names = [row[0] for row in handle.query("SELECT name FROM spans ORDER BY name")]
    assert names == ["proto 0", "proto 2"]
