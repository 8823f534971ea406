"""Malformed and partly valid OTLP requests: clear errors, nothing stored lost."""

from __future__ import annotations

import gzip
import json
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.collector.ingest.otlp import export, record_spans, to_otlp_json, to_request
from tests.collector.ingest.test_ingest import crash_investigation, run_row

TRACES = "/v1/traces"


def _stored(collector: Any) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        collector.query(f"SELECT count(*) FROM {table}")[0][0]
        for table in ("spans", "agent_runs", "agent_steps")
    )


@pytest.fixture
def seeded(collector: Any) -> Any:
    export("grpc", collector, record_spans(crash_investigation))
    assert _stored(collector) == (5, 1, 4)
    return collector


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-protobuf", b"\xff\xff\xff garbage"),
        ("application/json", b"{not json"),
        ("application/json", b'{"resourceSpans": 7}'),
        ("application/json", b"[1, 2]"),
    ],
)
def test_http_garbage_is_400_and_harms_nothing(seeded: Any, content_type: str, body: bytes) -> None:
    response = httpx.post(
        seeded.http_endpoint + TRACES, content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(content_type)
    if content_type == "application/json":
        assert "message" in response.json()
    else:
        status = status_pb2.Status()
        status.ParseFromString(response.content)
        assert status.message
    assert _stored(seeded) == (5, 1, 4)
    assert run_row(seeded, "run-crash-1")["status"] == "completed"


def test_grpc_garbage_is_invalid_argument(seeded: Any) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{seeded.grpc_port}") as channel:
        export_call = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.RpcError) as caught:
            export_call(b"\xff\xff\xff garbage", timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _stored(seeded) == (5, 1, 4)


def test_wrong_content_type_is_415(collector: Any) -> None:
    response = httpx.post(
        collector.http_endpoint + TRACES, content=b"x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


def test_empty_request_succeeds(collector: Any) -> None:
    for content_type, body in (("application/x-protobuf", b""), ("application/json", b"{}")):
        response = httpx.post(
            collector.http_endpoint + TRACES, content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 200
    assert _stored(collector) == (0, 0, 0)


def test_some_invalid_spans_are_rejected_and_the_rest_stored(collector: Any) -> None:
    document = to_otlp_json(to_request(record_spans(crash_investigation)))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["spanId"] = "not-hex-at-all!!"
    spans[1]["traceId"] = "00000000000000000000000000000000"
    response = httpx.post(
        collector.http_endpoint + TRACES,
        content=json.dumps(document),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 2
    assert "rejected" in partial["errorMessage"]
    assert _stored(collector)[0] == 3


def test_json_ids_in_upper_and_lower_case_match_protobuf(collector: Any) -> None:
    request = to_request(record_spans(crash_investigation))
    body = json.dumps(to_otlp_json(request, upper=True))
    response = httpx.post(
        collector.http_endpoint + TRACES, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    expected = sorted(
        (span.trace_id.hex(), span.span_id.hex())
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    )
    assert sorted(collector.query("SELECT trace_id, span_id FROM spans")) == expected


def test_gzip_bomb_is_413(tmp_path: Any) -> None:
    from tests.conftest import start_test_collector

    handle = start_test_collector(tmp_path / "a.duckdb", max_request_bytes=64 * 1024)
    try:
        bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
        response = httpx.post(
            handle.http_endpoint + TRACES,
            content=bomb,
            headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
        )
        assert response.status_code == 413
        assert len(bomb) < 64 * 1024  # small on the wire, huge inflated
    finally:
        handle.stop()


def test_protobuf_response_is_protobuf(collector: Any) -> None:
    body = to_request(record_spans(crash_investigation)).SerializeToString()
    response = httpx.post(
        collector.http_endpoint + TRACES,
        content=body,
        headers={"content-type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse()
    parsed.ParseFromString(response.content)
    assert parsed.partial_success.rejected_spans == 0
