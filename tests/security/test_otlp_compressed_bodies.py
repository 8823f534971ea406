"""A compressed OTLP/HTTP body is read whole, or refused: never partly, silently.

Found from outside: a gzip body of two members (RFC 1952 allows any number,
one after the other; concatenating compressed chunks makes them) was read up
to the end of the first member and acknowledged with 200, the spans of the
rest dropped unseen; bytes after the stream were ignored the same way.
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import Tracer

from tests.collector.ingest.otlp import record_spans, to_request
from tests.conftest import CollectorHandle, start_test_collector

LIMIT = 1 << 20


def _run(tracer: Tracer) -> None:
    with tracer.start_as_current_span("agent.run"):
        for index in range(20):
            with tracer.start_as_current_span(f"tool step-{index:02d}"):
                pass


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    path = tmp_path_factory.mktemp("compressed") / "audit.duckdb"
    collector = start_test_collector(path, max_request_bytes=LIMIT)
    try:
        yield collector
    finally:
        collector.stop()


def _request() -> tuple[bytes, str]:
    request: ExportTraceServiceRequest = to_request(record_spans(_run))
    trace_id = request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    return request.SerializeToString(), trace_id


def _post(handle: CollectorHandle, body: bytes, encoding: str) -> httpx.Response:
    return httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf", "content-encoding": encoding},
        timeout=30,
    )


def _count(handle: CollectorHandle, trace_id: str) -> int:
    rows = handle.query("SELECT count(*) FROM spans WHERE trace_id = ?", [trace_id])
    return int(rows[0][0])


def test_every_member_of_a_multi_member_gzip_body_is_stored(handle: CollectorHandle) -> None:
    # Two whole requests, one per member: protobuf reads their concatenation as one.
    first, first_trace = _request()
    second, second_trace = _request()
    body = gzip.compress(first, mtime=0) + gzip.compress(second, mtime=0)
    response = _post(handle, body, "gzip")
    assert response.status_code == 200, response.text
    assert (_count(handle, first_trace), _count(handle, second_trace)) == (21, 21)


def test_a_request_cut_across_gzip_members_is_stored_whole(handle: CollectorHandle) -> None:
    raw, trace_id = _request()
    cuts = [0, 7, len(raw) // 3, len(raw) // 2 + 5, len(raw)]
    body = b"".join(gzip.compress(raw[a:b], mtime=0) for a, b in itertools.pairwise(cuts))
    response = _post(handle, body, "gzip")
    assert response.status_code == 200, response.text
    assert _count(handle, trace_id) == 21


@pytest.mark.parametrize(
    ("encoding", "trailer"),
    [("gzip", b"junk"), ("gzip", b"\0" * 8), ("deflate", b"x"), ("deflate", zlib.compress(b"x"))],
    ids=["gzip then text", "gzip then zeros", "deflate then a byte", "deflate twice"],
)
def test_bytes_after_the_compressed_stream_are_refused(
    handle: CollectorHandle, encoding: str, trailer: bytes
) -> None:
    raw, trace_id = _request()
    compressed = gzip.compress(raw, mtime=0) if encoding == "gzip" else zlib.compress(raw)
    response = _post(handle, compressed + trailer, encoding)
    assert response.status_code == 400, response.text
    assert f"after the end of its {encoding} stream" in response.text
    assert _count(handle, trace_id) == 0


def test_members_adding_up_past_the_limit_are_too_large(handle: CollectorHandle) -> None:
    member = gzip.compress(b"\0" * (LIMIT // 4), mtime=0)
    response = _post(handle, member * 5, "gzip")
    assert response.status_code == 413, response.text


def test_a_body_of_countless_empty_members_is_refused_at_once(handle: CollectorHandle) -> None:
    # 50,000 members of nothing: refused after the first thousand, not inflated one by one.
    response = _post(handle, gzip.compress(b"", mtime=0) * 50_000, "gzip")
    assert response.status_code == 400, response.text
    assert "gzip members" in response.text
