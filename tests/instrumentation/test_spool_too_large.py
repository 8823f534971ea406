"""A spooled batch larger than the collector takes in one request is sent in parts.

A burst spilled while the collector was down is one spool file; the real
collector refuses a request over ``AGENT_AUDIT_MAX_REQUEST_BYTES`` (HTTP 413,
gRPC RESOURCE_EXHAUSTED). The batch must then reach it in smaller requests,
every span once, and the spool drain; only a single span larger than the
limit by itself is dropped, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation
from instrumentation.spool import SpanSpool, encode_batch, split_request
from tests.collector.ingest.otlp import to_request
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import wait_until

LIMIT_BYTES = 64 * 1024


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorHandle]:
    handle = start_test_collector(tmp_path / "small.duckdb", max_request_bytes=LIMIT_BYTES)
    try:
        yield handle
    finally:
        handle.stop()


def _batch(count: int, filler_bytes: int, *, huge: int | None = None) -> bytes:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("burst")
    for index in range(count):
        size = 2 * LIMIT_BYTES if index == huge else filler_bytes
        tracer.start_span(f"chat {index}", attributes={"filler": "x" * size}).end()
    return encode_batch(exporter.get_finished_spans())


def _stored_names(collector: CollectorHandle) -> list[str]:
    # The batch's spans (the in-process collector's own requests may be traced too).
    return sorted(r[0] for r in collector.query("SELECT name FROM spans WHERE name LIKE 'chat %'"))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_spooled_batch_over_the_request_limit_arrives_whole_in_parts(
    tmp_path: Path, collector: CollectorHandle, protocol: str
) -> None:
    payload = _batch(300, 1000)
    assert len(payload) > 4 * LIMIT_BYTES
    spool = SpanSpool(tmp_path / "spool")
    spool.put(payload)  # left by a process that ran while the collector was down
    instrumentation.configure(
        endpoint=collector.http_endpoint if protocol == "http" else collector.grpc_endpoint,
        protocol=protocol,
        spool_dir=spool.directory,
        spool_retry_s=0.05,
        cancel_poll_s=None,
    )
    wait_until(lambda: not spool.pending(), timeout_s=30, what="the spool drained")
    assert _stored_names(collector) == sorted(f"chat {i}" for i in range(300))


def test_only_a_span_over_the_limit_by_itself_is_dropped(
    tmp_path: Path, collector: CollectorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    spool = SpanSpool(tmp_path / "spool")
    spool.put(_batch(40, 4000, huge=17))
    with caplog.at_level(logging.WARNING, logger="instrumentation"):
        instrumentation.configure(
            endpoint=collector.http_endpoint,
            protocol="http",
            spool_dir=spool.directory,
            spool_retry_s=0.05,
            cancel_poll_s=None,
        )
        wait_until(lambda: not spool.pending(), timeout_s=30, what="the spool drained")
    assert _stored_names(collector) == sorted(f"chat {i}" for i in range(40) if i != 17)
    assert any("larger than the collector takes" in r.getMessage() for r in caplog.records)


def test_split_keeps_every_span_with_its_resource_and_scope() -> None:
    payload = _batch(7, 10)
    first, second = split_request(payload) or (b"", b"")
    request = to_request([])
    request.ParseFromString(payload)
    parts = [to_request([]), to_request([])]
    parts[0].ParseFromString(first)
    parts[1].ParseFromString(second)

    def flat(r: object) -> list[tuple[str, str, str]]:
        return [
            (str(rs.resource), ss.scope.name, span.name)
            for rs in r.resource_spans  # type: ignore[attr-defined]
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    assert flat(parts[0]) + flat(parts[1]) == flat(request)
    assert len(flat(parts[0])) == 3
    assert split_request(_batch(1, 10)) is None
