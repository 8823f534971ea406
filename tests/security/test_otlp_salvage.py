"""A request that does not parse as a whole still keeps its good spans.

One span among 100 is spoiled below the level the per-span checks see: text
that is not UTF-8 (repaired with U+FFFD, as OTEP 0257 asks of receivers),
bytes that are not a span at all, a span nested past the parser's depth
limit, a JSON span with a wrong type in one field. The answer must be a
success, every good span stored, and the spoiled span either repaired and
stored or rejected alone with its position named.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.trace import Tracer

from bench.reliability.otlp_requests import to_otlp_json
from tests.collector.ingest.otlp import record_spans, to_request
from tests.conftest import CollectorHandle

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
VICTIM = 37
# Same length as the marker, so every length prefix around it stays right.
MARKER, BROKEN = b"MARK-ME!", b"MA\xffK-\xc3!\xe2"


def _hundred(tracer: Tracer) -> None:
    with tracer.start_as_current_span("agent.run") as root:
        root.set_attribute("agent.task", "salvage")
        for index in range(1, 100):
            with tracer.start_as_current_span(f"tool step-{index:02d}") as span:
                span.set_attribute("tool.name", f"tool-{index}")


@pytest.fixture(scope="module")
def handle(module_collector: CollectorHandle) -> CollectorHandle:
    return module_collector


def fresh_request() -> ExportTraceServiceRequest:
    """100 spans of one new trace, in one resource and one scope."""
    request = to_request(record_spans(_hundred, service="salvage-agent"))
    spans = request.resource_spans[0].scope_spans[0].spans
    assert len(spans) == 100
    return request


def victim(request: ExportTraceServiceRequest) -> Span:
    return request.resource_spans[0].scope_spans[0].spans[VICTIM]


def trace_of(request: ExportTraceServiceRequest) -> str:
    return victim(request).trace_id.hex()


def post(handle: CollectorHandle, protocol: str, body: bytes) -> tuple[int, str]:
    """(rejected_spans, error_message) of a successful export of raw ``body``."""
    if protocol == "grpc":
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            export = channel.unary_unary(
                EXPORT, response_deserializer=ExportTraceServiceResponse.FromString
            )
            answer = export(body, timeout=10)
        return answer.partial_success.rejected_spans, answer.partial_success.error_message
    content_type = "application/json" if protocol == "http-json" else "application/x-protobuf"
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": content_type},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    if protocol == "http-json":
        partial = response.json().get("partialSuccess", {})
        return int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")
    parsed = ExportTraceServiceResponse.FromString(response.content)
    return parsed.partial_success.rejected_spans, parsed.partial_success.error_message


def stored(handle: CollectorHandle, trace_id: str, column: str) -> list[Any]:
    rows = handle.query(
        f"SELECT {column} FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id", [trace_id]
    )
    return [row[0] for row in rows]


# --------------------------------------------------------- text not UTF-8


def _mark_name(request: ExportTraceServiceRequest) -> None:
    victim(request).name = MARKER.decode()


def _mark_attribute_value(request: ExportTraceServiceRequest) -> None:
    victim(request).attributes[0].value.string_value = MARKER.decode()


def _mark_attribute_key(request: ExportTraceServiceRequest) -> None:
    victim(request).attributes[0].key = MARKER.decode()


def _mark_event_name(request: ExportTraceServiceRequest) -> None:
    victim(request).events.add(
        name=MARKER.decode(), time_unix_nano=victim(request).start_time_unix_nano
    )


def _mark_status_message(request: ExportTraceServiceRequest) -> None:
    victim(request).status.message = MARKER.decode()


def _mark_resource(request: ExportTraceServiceRequest) -> None:
    attribute = request.resource_spans[0].resource.attributes.add()
    attribute.key = "host.name"
    attribute.value.string_value = MARKER.decode()


def _mark_scope(request: ExportTraceServiceRequest) -> None:
    request.resource_spans[0].scope_spans[0].scope.name = MARKER.decode()


# Where the marker goes, and the column (of every span, or the victim's) that
# must then hold U+FFFD.
TEXT_PLACES: dict[str, tuple[Callable[[ExportTraceServiceRequest], None], str, bool]] = {
    "span name": (_mark_name, "name", False),
    "attribute value": (_mark_attribute_value, "attributes", False),
    "attribute key": (_mark_attribute_key, "attributes", False),
    "event name": (_mark_event_name, "events", False),
    "status message": (_mark_status_message, "status_message", False),
    "resource attribute": (_mark_resource, "resource", True),
    "scope name": (_mark_scope, "scope_name", True),
}


def broken_text_body(request: ExportTraceServiceRequest, protocol: str) -> bytes:
    if protocol == "http-json":
        body = json.dumps(to_otlp_json(request)).encode()
    else:
        body = request.SerializeToString()
    assert body.count(MARKER) == 1
    return body.replace(MARKER, BROKEN)


@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf", "http-json"])
@pytest.mark.parametrize("place", sorted(TEXT_PLACES))
def test_text_that_is_not_utf8_is_repaired_and_every_span_kept(
    handle: CollectorHandle, protocol: str, place: str
) -> None:
    mark, column, on_every_span = TEXT_PLACES[place]
    request = fresh_request()
    mark(request)
    rejected, message = post(handle, protocol, broken_text_body(request, protocol))
    assert rejected == 0, message
    # BROKEN holds three invalid sequences: a stray byte and two cut characters.
    assert message.startswith("3 invalid UTF-8 sequence(s)") and "U+FFFD" in message, message
    values = stored(handle, trace_of(request), column)
    assert len(values) == 100
    repaired = [value for value in values if "\ufffd" in json.dumps(value, ensure_ascii=False)]
    assert len(repaired) == (100 if on_every_span else 1), repaired[:3]
    # The valid characters around the bad bytes survive.
    assert "MA\ufffdK-\ufffd!\ufffd" in json.dumps(repaired[0], ensure_ascii=False)


def test_a_good_request_carries_no_warning(handle: CollectorHandle) -> None:
    request = fresh_request()
    assert post(handle, "http-protobuf", request.SerializeToString()) == (0, "")
    assert len(stored(handle, trace_of(request), "name")) == 100


# ---------------------------------------------- a span that does not parse


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _VarintBytes(number << 3 | 2) + _VarintBytes(len(payload)) + payload


def wire_body(request: ExportTraceServiceRequest, spoil: Callable[[bytes], bytes]) -> bytes:
    """The request encoded by hand, with the victim span's bytes spoiled."""
    resource_spans = request.resource_spans[0]
    scope_spans = resource_spans.scope_spans[0]
    spans = [span.SerializeToString() for span in scope_spans.spans]
    spans[VICTIM] = spoil(spans[VICTIM])
    scope_part = _field(1, scope_spans.scope.SerializeToString()) + b"".join(
        _field(2, span) for span in spans
    )
    resource_part = _field(1, resource_spans.resource.SerializeToString()) + _field(2, scope_part)
    return _field(1, resource_part)


def _deep_attribute(span_bytes: bytes) -> bytes:
    span = Span.FromString(span_bytes)
    value = span.attributes.add(key="deep").value
    for _ in range(150):
        entry = value.kvlist_value.values.add(key="d")
        value = entry.value
    value.string_value = "bottom"
    return span.SerializeToString()


WIRE_SPOILERS: dict[str, Callable[[bytes], bytes]] = {
    "invalid wire type": lambda span: span + b"\x0f",
    "field longer than the span": lambda span: span + _VarintBytes(5 << 3 | 2) + b"\x64x",
    "truncated varint": lambda span: span + b"\x08\xff",
    "nested 150 deep": _deep_attribute,
}


@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf"])
@pytest.mark.parametrize("case", sorted(WIRE_SPOILERS))
def test_a_span_that_does_not_parse_costs_only_itself(
    handle: CollectorHandle, protocol: str, case: str
) -> None:
    request = fresh_request()
    body = wire_body(request, WIRE_SPOILERS[case])
    with pytest.raises(DecodeError):  # the strict parser refuses the whole body
        ExportTraceServiceRequest.FromString(body)
    rejected, message = post(handle, protocol, body)
    assert rejected == 1, message
    assert f"span {VICTIM} does not parse" in message, message
    names = stored(handle, trace_of(request), "name")
    assert len(names) == 99 and victim(request).name not in names


def test_a_body_that_is_not_otlp_at_all_is_still_refused(handle: CollectorHandle) -> None:
    body = fresh_request().SerializeToString()[:-3]
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "not an OTLP protobuf" in response.text


# ------------------------------------------------------------------- JSON


def _json_set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def spoil(span: dict[str, Any]) -> None:
        span[key] = value

    return spoil


def _json_attribute(value: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def spoil(span: dict[str, Any]) -> None:
        span["attributes"][0]["value"] = value

    return spoil


JSON_SPOILERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "start time not a number": _json_set("startTimeUnixNano", "soon"),
    "name a number": _json_set("name", 12),
    "int value out of range": _json_attribute({"intValue": "1e999"}),
    "double value not a number": _json_attribute({"doubleValue": "many"}),
    "event time negative": _json_set("events", [{"name": "tick", "timeUnixNano": "-5"}]),
    "attributes not a list": _json_set("attributes", {"a": 1}),
    "links not objects": _json_set("links", [7]),
}


def json_document(request: ExportTraceServiceRequest) -> dict[str, Any]:
    document: dict[str, Any] = to_otlp_json(request)
    return document


@pytest.mark.parametrize("case", sorted(JSON_SPOILERS))
def test_a_json_span_that_does_not_parse_costs_only_itself(
    handle: CollectorHandle, case: str
) -> None:
    request = fresh_request()
    document = json_document(request)
    JSON_SPOILERS[case](document["resourceSpans"][0]["scopeSpans"][0]["spans"][VICTIM])
    rejected, message = post(handle, "http-json", json.dumps(document).encode())
    assert rejected == 1, message
    assert f"span {VICTIM} does not parse" in message, message
    names = stored(handle, trace_of(request), "name")
    assert len(names) == 99 and victim(request).name not in names


def test_a_json_span_that_is_not_an_object_costs_only_itself(handle: CollectorHandle) -> None:
    request = fresh_request()
    document = json_document(request)
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][VICTIM] = 42
    rejected, message = post(handle, "http-json", json.dumps(document).encode())
    assert (rejected, len(stored(handle, trace_of(request), "name"))) == (1, 99), message


@pytest.mark.parametrize(
    ("escape", "place"),
    [("\\ud800", "name"), ("\\udfff", "attributes"), ("\\ud83d", "name")],
    ids=["high alone in a name", "low alone in a value", "pair cut in half"],
)
def test_an_unpaired_surrogate_escape_is_repaired(
    handle: CollectorHandle, escape: str, place: str
) -> None:
    request = fresh_request()
    (_mark_name if place == "name" else _mark_attribute_value)(request)
    body = json.dumps(to_otlp_json(request)).replace(MARKER.decode(), f"MA{escape}K-ME!")
    rejected, message = post(handle, "http-json", body.encode())
    assert rejected == 0 and "U+FFFD" in message, message
    values = stored(handle, trace_of(request), place)
    assert sum("MA\ufffdK-ME!" in json.dumps(v, ensure_ascii=False) for v in values) == 1
    assert len(values) == 100


def test_a_valid_surrogate_pair_is_kept_as_written(handle: CollectorHandle) -> None:
    request = fresh_request()
    _mark_name(request)
    body = json.dumps(to_otlp_json(request)).replace(MARKER.decode(), "MA\\ud83d\\ude00K")
    assert post(handle, "http-json", body.encode()) == (0, "")
    assert "MA\U0001f600K" in stored(handle, trace_of(request), "name")


def test_a_resource_that_does_not_parse_costs_only_its_spans(handle: CollectorHandle) -> None:
    good, bad = fresh_request(), fresh_request()
    document = json_document(good)
    spoiled = json_document(bad)["resourceSpans"][0]
    spoiled["resource"]["attributes"] = "not a list"
    document["resourceSpans"].append(spoiled)
    rejected, message = post(handle, "http-json", json.dumps(document).encode())
    assert rejected == 100 and "resource 1 does not parse" in message, message
    assert len(stored(handle, trace_of(good), "name")) == 100
    assert stored(handle, trace_of(bad), "name") == []
