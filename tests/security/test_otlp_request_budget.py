"""A request of millions of tiny parts is refused before it is decoded.

Found from outside: 15 MB of protobuf holding 300,000 minimal spans took 19 s
to acknowledge and grew the collector by 750 MB; 8 MiB of OTLP/JSON holding
3,000,000 empty events on one span took 42 s and 2.3 GB. Each hostile shape
below (too many spans, events, links, attributes, values inside one
attribute, resources, scopes; in JSON also a flood of empty arrays where
objects belong) must be answered 400 / INVALID_ARGUMENT naming the setting,
store nothing, and leave what was stored before, and the next honest
request, untouched. An honest SDK batch (512 spans with the SDK's limits of
128 attributes, events and links) must never be refused.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.trace import Tracer

from bench.reliability.otlp_requests import to_otlp_json
from collector.request_budget import PartsInFlight
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MAX_SPANS = 200
MAX_PARTS = 5_000
PROTOCOLS = ("grpc", "http-protobuf", "http-json")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    """A collector with a small budget, so each hostile shape is quick to build."""
    handle = start_test_collector(
        tmp_path_factory.mktemp("budget") / "audit.duckdb",
        max_request_spans=MAX_SPANS,
        max_request_parts=MAX_PARTS,
    )
    try:
        yield handle
    finally:
        handle.stop()


def _span(trace: bytes, number: int) -> Span:
    return Span(
        trace_id=trace,
        span_id=number.to_bytes(8, "big"),
        name=f"step {number}",
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_000_001_000,
    )


def _request(spans: int = 3, resources: int = 1, scopes: int = 1) -> ExportTraceServiceRequest:
    """``spans`` spans of a new trace in each scope of each resource."""
    trace = os.urandom(16)
    request = ExportTraceServiceRequest()
    number = 1
    for _ in range(resources):
        resource = request.resource_spans.add()
        resource.resource.attributes.add(key="service.name").value.string_value = "budget"
        for _ in range(scopes):
            scope = resource.scope_spans.add()
            scope.scope.name = "budget-tests"
            for _ in range(spans):
                scope.spans.append(_span(trace, number))
                number += 1
    return request


def _first(request: ExportTraceServiceRequest) -> Span:
    return request.resource_spans[0].scope_spans[0].spans[0]


def _many_spans() -> ExportTraceServiceRequest:
    return _request(spans=MAX_SPANS + 1)


def _many_events() -> ExportTraceServiceRequest:
    request = _request()
    for _ in range(MAX_PARTS):
        _first(request).events.add(name="e", time_unix_nano=1_700_000_000_000_000_000)
    return request


def _many_links() -> ExportTraceServiceRequest:
    request = _request()
    for number in range(MAX_PARTS):
        _first(request).links.add(trace_id=os.urandom(16), span_id=(number + 1).to_bytes(8, "big"))
    return request


def _many_attributes() -> ExportTraceServiceRequest:
    request = _request()
    for number in range(MAX_PARTS // 2 + 1):
        _first(request).attributes.add(key=f"k{number}").value.int_value = number
    return request


def _wide_array() -> ExportTraceServiceRequest:
    request = _request()
    values = _first(request).attributes.add(key="list").value.array_value.values
    values.extend(AnyValue(string_value="x") for _ in range(MAX_PARTS))
    return request


def _wide_kvlist_in_event() -> ExportTraceServiceRequest:
    request = _request()
    event = _first(request).events.add(name="e", time_unix_nano=1_700_000_000_000_000_000)
    entries = event.attributes.add(key="map").value.kvlist_value.values
    for number in range(MAX_PARTS // 2 + 1):
        entries.add(key=f"k{number}").value.bool_value = True
    return request


def _many_resources() -> ExportTraceServiceRequest:
    return _request(spans=0, resources=MAX_PARTS // 3 + 1)


def _many_scopes() -> ExportTraceServiceRequest:
    return _request(spans=0, scopes=MAX_PARTS // 2 + 1)


SHAPES: dict[str, Callable[[], ExportTraceServiceRequest]] = {
    "spans": _many_spans,
    "events": _many_events,
    "links": _many_links,
    "attributes": _many_attributes,
    "array value": _wide_array,
    "kvlist value in an event": _wide_kvlist_in_event,
    "resources": _many_resources,
    "scopes": _many_scopes,
}


def _body(protocol: str, request: ExportTraceServiceRequest) -> bytes:
    if protocol == "http-json":
        return json.dumps(to_otlp_json(request)).encode()
    return request.SerializeToString()


def _send(handle: CollectorHandle, protocol: str, body: bytes) -> tuple[str, str]:
    """(outcome, message): outcome is "ok", "400", "INVALID_ARGUMENT", or another failure."""
    if protocol == "grpc":
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            call = channel.unary_unary(
                EXPORT, response_deserializer=ExportTraceServiceResponse.FromString
            )
            try:
                answer = call(body, timeout=60)
            except grpc.RpcError as exc:
                return exc.code().name, exc.details() or ""
        return "ok", answer.partial_success.error_message
    content_type = "application/json" if protocol == "http-json" else "application/x-protobuf"
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": content_type},
        timeout=60,
    )
    if response.status_code == 200:
        return "ok", ""
    return str(response.status_code), response.text


def _trace_rows(handle: CollectorHandle, request: ExportTraceServiceRequest) -> int:
    traces = {
        span.trace_id.hex()
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    }
    rows = handle.query(
        f"SELECT count(*) FROM spans WHERE trace_id IN ({', '.join('?' * len(traces))})",
        sorted(traces),
    )
    return int(rows[0][0])


def _span_count(handle: CollectorHandle) -> int:
    return int(handle.query("SELECT count(*) FROM spans")[0][0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_request_of_too_many_parts_is_refused_whole(
    small: CollectorHandle, shape: str, protocol: str
) -> None:
    before = _request()
    assert _send(small, protocol, _body(protocol, before))[0] == "ok"
    stored_before = _span_count(small)

    hostile = SHAPES[shape]()
    outcome, message = _send(small, protocol, _body(protocol, hostile))

    assert outcome == ("INVALID_ARGUMENT" if protocol == "grpc" else "400"), message[:300]
    setting = (
        "AGENT_AUDIT_MAX_REQUEST_SPANS" if shape == "spans" else "AGENT_AUDIT_MAX_REQUEST_PARTS"
    )
    assert setting in message
    assert "nothing was stored" in message
    if hostile.resource_spans[0].scope_spans and _first_or_none(hostile) is not None:
        assert _trace_rows(small, hostile) == 0
    assert _span_count(small) == stored_before
    assert _trace_rows(small, before) == 3
    after = _request()
    assert _send(small, protocol, _body(protocol, after))[0] == "ok"
    assert _trace_rows(small, after) == 3
    assert _in_flight(small).held == 0  # refused or stored, each request gave its parts back


def _in_flight(handle: CollectorHandle) -> PartsInFlight:
    in_flight: PartsInFlight = handle.running.http_server.config.app.state.parts_in_flight
    return in_flight


def test_requests_past_the_parts_in_flight_are_told_to_retry_later(
    small: CollectorHandle,
) -> None:
    # Each request under the budget still costs its decode, about a kilobyte per
    # part until stored: requests arriving together take turns. Two full
    # budgets may be in flight; the parts held here stand for requests being
    # decoded (the receivers of both protocols share the count).
    in_flight = _in_flight(small)
    assert in_flight.limit == 2 * MAX_PARTS
    busy = 2 * MAX_PARTS - 5
    in_flight.take(busy)
    waiting = {protocol: _request() for protocol in PROTOCOLS}  # 9 to 12 parts each
    try:
        for protocol, request in waiting.items():
            outcome, message = _send(small, protocol, _body(protocol, request))
            assert outcome == ("UNAVAILABLE" if protocol == "grpc" else "503"), message
            assert "retry later" in message
            assert _trace_rows(small, request) == 0
        response = httpx.post(
            small.http_endpoint + "/v1/traces",
            content=_body("http-protobuf", waiting["http-protobuf"]),
            headers={"content-type": "application/x-protobuf"},
            timeout=60,
        )
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert httpx.get(small.http_endpoint + "/healthz").json()["decoding_parts"] == busy
    finally:
        in_flight.give(busy)
    for protocol, request in waiting.items():  # the exporter's retry
        assert _send(small, protocol, _body(protocol, request))[0] == "ok"
        assert _trace_rows(small, request) == 3
    assert in_flight.held == 0


def _first_or_none(request: ExportTraceServiceRequest) -> Span | None:
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                return span
    return None


@pytest.mark.parametrize("protocol", ("grpc", "http-protobuf"))
def test_a_request_exactly_at_the_budget_is_stored(small: CollectorHandle, protocol: str) -> None:
    # ResourceSpans, Resource, its attribute (2), ScopeSpans, Scope, 3 spans and statuses (6).
    fixed = 12
    at_budget = _request()
    for _ in range(MAX_PARTS - fixed):
        _first(at_budget).events.add(name="e", time_unix_nano=1_700_000_000_000_000_000)
    assert _send(small, protocol, _body(protocol, at_budget))[0] == "ok"
    assert _trace_rows(small, at_budget) == 3

    one_more = _request()
    for _ in range(MAX_PARTS - fixed + 1):
        _first(one_more).events.add(name="e", time_unix_nano=1_700_000_000_000_000_000)
    assert _send(small, protocol, _body(protocol, one_more))[0] != "ok"
    assert _trace_rows(small, one_more) == 0


@pytest.mark.parametrize("flood", ["[]", "1", '"x"', "{}"])
def test_a_json_flood_of_values_is_refused_before_it_is_parsed(
    small: CollectorHandle, flood: str
) -> None:
    # Empty arrays, numbers or strings where attribute objects belong: the
    # parser would still build millions of Python objects before any span check.
    document = to_otlp_json(_request())
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = "@@flood@@"
    text = json.dumps(document).replace(
        '"@@flood@@"', "[" + ",".join([flood] * (5 * MAX_PARTS)) + "]"
    )
    outcome, message = _send(small, "http-json", text.encode())
    assert outcome == "400", message[:300]
    assert "AGENT_AUDIT_MAX_REQUEST_PARTS" in message


def test_braces_inside_strings_are_not_counted(small: CollectorHandle) -> None:
    # A tool's JSON arguments stored as text hold braces, brackets and commas
    # that are not parts of the request.
    request = _request()
    _first(request).attributes.add(key="gen_ai.tool.call.arguments").value.string_value = (
        "[" + ",".join(['{"a": [1, 2]}'] * (2 * MAX_PARTS)) + "]"
    )
    outcome, message = _send(small, "http-json", _body("http-json", request))
    assert outcome == "ok", message[:300]
    assert _trace_rows(small, request) == 3


def _sdk_batch(tracer: Tracer) -> None:
    # The SDK's defaults: at most 128 attributes, events and links per span,
    # 128 attributes per event; a batch processor sends 512 spans at most.
    with tracer.start_as_current_span("invoke_agent honest") as root:
        for number in range(511):
            with tracer.start_as_current_span(f"execute_tool tool-{number}") as span:
                for key in range(128):
                    span.set_attribute(f"app.field.{key}", f"value {key} of {number}")
                for event in range(4):
                    span.add_event(f"progress {event}", {f"detail.{k}": k for k in range(16)})
        root.set_attribute("app.list", [f"item {n}" for n in range(128)])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_honest_sdk_batch_at_the_default_budget_is_stored_whole(
    tmp_path: Path, protocol: str
) -> None:
    handle = start_test_collector(tmp_path / "audit.duckdb")
    try:
        spans = record_spans(_sdk_batch, service="honest")
        assert len(spans) == 512
        export(protocol, handle, spans)
        trace = format(spans[0].context.trace_id, "032x")
        rows = handle.query("SELECT count(*) FROM spans WHERE trace_id = ?", [trace])
        assert rows[0][0] == 512
    finally:
        handle.stop()


def test_the_measured_attack_is_refused_at_the_default_budget(tmp_path: Path) -> None:
    # The shape measured before: millions of empty events on one span (here
    # 3,000,000 in 6 MB of protobuf, over gRPC and HTTP).
    handle = start_test_collector(tmp_path / "audit.duckdb")
    try:
        request = _request(spans=1)
        events = _first(request).events
        for _ in range(3_000_000):
            events.add()
        body = request.SerializeToString()
        for protocol in ("grpc", "http-protobuf"):
            outcome, message = _send(handle, protocol, body)
            assert outcome in ("INVALID_ARGUMENT", "400"), message[:300]
            assert "AGENT_AUDIT_MAX_REQUEST_PARTS" in message
        assert _span_count(handle) == 0
    finally:
        handle.stop()


@pytest.mark.parametrize("encoding", ["", "gzip"])
def test_a_declared_length_past_the_limit_is_refused_before_the_body(
    tmp_path: Path, encoding: str
) -> None:
    # Found from outside: a head declaring a body of 10^20 bytes was held open
    # while the collector waited for it (until the request timeout), and a
    # 20 MB body was read whole before being refused.
    handle = start_test_collector(
        tmp_path / "audit.duckdb", max_request_bytes=1 << 20, request_timeout_s=600
    )
    try:
        for declared in (str((1 << 20) + 1), "99999999999999999999"):
            head = (
                "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                + (f"Content-Encoding: {encoding}\r\n" if encoding else "")
                + f"Content-Length: {declared}\r\n\r\n"
            )
            with socket.create_connection(("127.0.0.1", handle.http_port)) as conn:
                conn.settimeout(30)  # far below the request timeout: only an early answer passes
                conn.sendall(head.encode())
                answer = b""
                while b"bytes" not in answer and (piece := conn.recv(4096)):
                    answer += piece
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            assert b"larger than 1048576 bytes" in answer
    finally:
        handle.stop()
