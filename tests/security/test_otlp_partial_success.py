"""One bad span costs only itself: the good ones are stored, the bad one counted.

Each hostile span goes with 99 good ones over all three OTLP transports; the
answer must be a success with ``partial_success.rejected_spans == 1`` and a
message naming the reason, and exactly the 99 good spans must be stored.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.trace import Tracer

from tests.collector.ingest.otlp import record_spans, to_otlp_json, to_request
from tests.conftest import CollectorHandle, start_test_collector

MAX_U64 = 2**64 - 1


def _hundred(tracer: Tracer) -> None:
    for index in range(100):
        with tracer.start_as_current_span(f"chat model-{index}") as span:
            span.set_attribute("gen_ai.usage.input_tokens", index)


def _set_double(span: Span, key: str, value: float) -> None:
    attribute = span.attributes.add()
    attribute.key = key
    attribute.value.double_value = value


def _nested_inf(span: Span) -> None:
    attribute = span.attributes.add()
    attribute.key = "gen_ai.usage"
    inner = attribute.value.kvlist_value.values.add()
    inner.key = "output_tokens"
    inner.value.array_value.values.add().double_value = float("-inf")


def _event_far_future(span: Span) -> None:
    event = span.events.add()
    event.name = "tick"
    event.time_unix_nano = MAX_U64


def _end_at(value: int) -> Callable[[Span], None]:
    def spoil(span: Span) -> None:
        span.end_time_unix_nano = value

    return spoil


def _start_at(value: int) -> Callable[[Span], None]:
    def spoil(span: Span) -> None:
        span.start_time_unix_nano = value

    return spoil


def _zero_trace(span: Span) -> None:
    span.trace_id = b"\0" * 16


def _short_span_id(span: Span) -> None:
    span.span_id = b"\x01\x02\x03"


def _bad_link(span: Span) -> None:
    link = span.links.add()
    link.trace_id = b"\x01" * 5
    link.span_id = b"\x02" * 8


SPOILERS: dict[str, tuple[Callable[[Span], None], str]] = {
    "nan tokens": (lambda s: _set_double(s, "gen_ai.usage.input_tokens", float("nan")), "nan"),
    "infinite cost": (lambda s: _set_double(s, "cost", float("inf")), "inf"),
    "-inf deep in a kvlist": (_nested_inf, "inf"),
    "end 2^64-1": (_end_at(MAX_U64), "out of range"),
    "start 2^64-1": (_start_at(MAX_U64), "out of range"),
    "end 2^63": (_end_at(2**63), "out of range"),
    "event at 2^64-1": (_event_far_future, "event 0 time"),
    "zero trace id": (_zero_trace, "trace_id"),
    "3-byte span id": (_short_span_id, "span_id"),
    "5-byte link trace id": (_bad_link, "link 0"),
}


@pytest.fixture(scope="module")
def good_request() -> ExportTraceServiceRequest:
    return to_request(record_spans(_hundred))


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(tmp_path / "partial.duckdb")
    try:
        yield collector
    finally:
        collector.stop()


def spoiled(
    good: ExportTraceServiceRequest, spoil: Callable[[Span], None]
) -> tuple[ExportTraceServiceRequest, str]:
    request = ExportTraceServiceRequest()
    request.CopyFrom(good)
    spans = request.resource_spans[0].scope_spans[0].spans
    victim = spans[37]
    spoil(victim)
    return request, victim.name


def send(
    handle: CollectorHandle, protocol: str, request: ExportTraceServiceRequest
) -> tuple[int, str]:
    """(rejected_spans, error_message) of a successful export."""
    if protocol == "grpc":
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            answer = TraceServiceStub(channel).Export(request, timeout=10)
        return answer.partial_success.rejected_spans, answer.partial_success.error_message
    if protocol == "http-protobuf":
        response = httpx.post(
            handle.http_endpoint + "/v1/traces",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        parsed = ExportTraceServiceResponse()
        parsed.ParseFromString(response.content)
        return parsed.partial_success.rejected_spans, parsed.partial_success.error_message
    document = to_otlp_json(request)
    body = json.dumps(document, allow_nan=True)  # proto3 JSON writes NaN as "NaN"
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    partial = response.json().get("partialSuccess", {})
    return int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")


@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf", "http-json"])
@pytest.mark.parametrize("case", sorted(SPOILERS))
def test_one_bad_span_is_rejected_and_the_99_good_are_stored(
    handle: CollectorHandle, good_request: ExportTraceServiceRequest, protocol: str, case: str
) -> None:
    spoil, reason = SPOILERS[case]
    request, victim = spoiled(good_request, spoil)
    rejected, message = send(handle, protocol, request)
    assert rejected == 1, (rejected, message)
    assert reason.lower() in message.lower(), message
    names = {row[0] for row in handle.query("SELECT name FROM spans")}
    assert len(names) == 99 and victim not in names


def test_good_spans_after_a_rejected_one_are_queryable_as_steps(
    handle: CollectorHandle, good_request: ExportTraceServiceRequest
) -> None:
    request, _ = spoiled(good_request, _end_at(MAX_U64))
    send(handle, "http-protobuf", request)
    assert handle.query("SELECT count(*) FROM spans WHERE end_ns >= start_ns") == [(99,)]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (gzip.compress(b"", mtime=0), "inflates to nothing"),
        (gzip.compress(b"\n\x00", mtime=0)[:-8], "truncated"),
        (gzip.compress(to_request([]).SerializeToString(), mtime=0), "inflates to nothing"),
    ],
    # Named ids: xdist workers must collect the same test names.
    ids=["empty", "truncated", "empty request"],
)
def test_a_gzip_body_with_nothing_in_it_is_an_error(
    handle: CollectorHandle, body: bytes, detail: str
) -> None:
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert detail in response.text


def test_a_gzip_body_with_spans_still_works(
    handle: CollectorHandle, good_request: ExportTraceServiceRequest
) -> None:
    body = zlib.compress(good_request.SerializeToString())
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf", "content-encoding": "deflate"},
        timeout=10,
    )
    assert response.status_code == 200
    assert handle.query("SELECT count(*) FROM spans") == [(100,)]
