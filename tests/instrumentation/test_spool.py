"""The on-disk spool: batches kept while the collector is down, replayed when it is back."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation
from instrumentation import agent_run
from instrumentation.senders import GrpcSender, HttpSender, SendError
from instrumentation.spool import STALE_PARTIAL_S, SpanSpool, encode_batch
from tests.instrumentation.recording import (
    RecordingGrpcServer,
    RecordingHttpServer,
    decode_spans,
)
from tests.support import free_port, wait_until


def _some_spans(count: int) -> bytes:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for index in range(count):
        tracer.start_span(f"span {index}").end()
    return encode_batch(exporter.get_finished_spans())


def test_the_spool_is_bounded_in_bytes_and_drops_the_oldest_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = SpanSpool(tmp_path / "spool", max_bytes=1000)
    caplog.set_level(logging.WARNING, logger="instrumentation.spool")
    written = [spool.put(bytes([index]) * 300) for index in range(6)]
    assert all(path is not None for path in written)
    pending = spool.pending()
    assert spool.total_bytes() <= 1000
    # the newest three are kept, oldest first
    assert [path.read_bytes()[0] for path in pending] == [3, 4, 5]
    assert len([r for r in caplog.records if "full" in r.getMessage()]) == 1
    assert spool.put(b"x" * 1001) is None  # bigger than the whole spool
    assert (tmp_path / "spool").stat().st_mode & 0o777 == 0o700


def _spooled_files(spool_dir: Path) -> list[Path]:
    return sorted(spool_dir.glob("*.otlp"))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_spans_are_spooled_while_down_and_replayed_once_when_back(
    tmp_path: Path, protocol: str
) -> None:
    port = free_port()
    spool_dir = tmp_path / "spool"
    instrumentation.configure(
        endpoint=f"http://127.0.0.1:{port}",
        protocol=protocol,
        spool_dir=spool_dir,
        spool_retry_s=0.05,
        export_timeout_s=1,
        cancel_poll_s=None,
    )
    run_ids = []
    for index in range(3):
        with agent_run(f"while down {index}") as run:
            run_ids.append(run.id)
            for step in range(4):
                with run.step("tool_call", tool_name=f"tool{step}") as s:
                    s.set_result("ok")
    wait_until(lambda: _spooled_files(spool_dir), timeout_s=15, what="spooled batches")

    # the collector comes back on the same port
    server: RecordingHttpServer | RecordingGrpcServer = (
        RecordingHttpServer(port) if protocol == "http" else RecordingGrpcServer(port)
    )
    try:
        wait_until(lambda: not _spooled_files(spool_dir), timeout_s=30, what="replay")
        with agent_run("after recovery") as run:
            run_ids.append(run.id)
        # direct, or spooled and replayed if the channel was still reconnecting
        wait_until(
            lambda: any(
                s.attributes.get("agent_run.id") == run.id and not s.pending for s in server.spans()
            ),
            timeout_s=30,
        )
        assert instrumentation.shutdown(timeout_s=10)
        received = server.spans()
    finally:
        server.stop()
    counts = Counter((s.trace_id, s.span_id) for s in received)
    assert counts and max(counts.values()) == 1  # no duplicates
    real_runs = [s for s in received if s.name == "invoke_agent" and not s.pending]
    assert sorted(s.attributes["agent_run.id"] for s in real_runs) == sorted(run_ids)
    steps = [s for s in received if s.name.startswith("execute_tool") and not s.pending]
    assert len(steps) == 12
    # every real span arrived (4 runs + 12 steps); pending copies only point at them
    real_ids = {s.span_id for s in received if not s.pending}
    assert len(real_ids) == 4 + 12
    assert all(s.parent_span_id in real_ids for s in received if s.pending)
    assert _spooled_files(spool_dir) == []


def test_batches_left_by_an_earlier_process_are_replayed_at_start(
    tmp_path: Path, http_server: RecordingHttpServer
) -> None:
    spool = SpanSpool(tmp_path / "spool")
    payload = _some_spans(3)
    spool.put(payload)
    instrumentation.configure(
        endpoint=http_server.url,
        protocol="http",
        spool_dir=tmp_path / "spool",
        spool_retry_s=0.05,
        cancel_poll_s=None,
    )
    wait_until(lambda: http_server.payloads, timeout_s=10)
    assert http_server.payloads == [payload]
    wait_until(lambda: not spool.pending(), timeout_s=10)


def test_a_batch_the_collector_refuses_is_dropped_not_retried_forever(
    tmp_path: Path, http_server: RecordingHttpServer
) -> None:
    spool = SpanSpool(tmp_path / "spool")
    spool.put(b"\xff\xff not protobuf")
    valid = _some_spans(1)
    spool.put(valid)
    instrumentation.configure(
        endpoint=http_server.url,
        protocol="http",
        spool_dir=tmp_path / "spool",
        spool_retry_s=0.05,
        cancel_poll_s=None,
    )
    wait_until(lambda: not spool.pending(), timeout_s=10)
    assert http_server.payloads == [valid]


def test_http_sender_tells_retryable_failures_from_refusals(
    http_server: RecordingHttpServer,
) -> None:
    http_server.status = 400
    send = HttpSender(f"{http_server.url}/v1/traces")
    with pytest.raises(SendError) as refused:
        send(b"not protobuf")
    assert not refused.value.retryable
    http_server.status = 503
    with pytest.raises(SendError) as busy:
        send(b"x")
    assert busy.value.retryable
    with pytest.raises(SendError) as unreachable:
        HttpSender(f"http://127.0.0.1:{free_port()}/v1/traces")(b"x")
    assert unreachable.value.retryable


def test_grpc_sender_delivers_the_bytes_unchanged(grpc_server: RecordingGrpcServer) -> None:
    payload = _some_spans(2)
    send = GrpcSender(grpc_server.url, headers={"Authorization": "Bearer t"})
    try:
        send(payload)
    finally:
        send.close()
    assert grpc_server.payloads == [payload]
    assert [s.name for s in decode_spans(payload)] == ["span 0", "span 1"]
    assert grpc_server.headers[0]["authorization"] == "Bearer t"


def test_half_written_files_of_a_killed_process_are_removed_at_start(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    SpanSpool(directory).put(b"whole")
    stale = directory / ".00000000000000000001-77-00000000.otlp.tmp"
    fresh = directory / ".00000000000000000002-78-00000000.otlp.tmp"
    for partial in (stale, fresh):
        partial.write_bytes(b"half")
    old = time.time() - STALE_PARTIAL_S - 60
    os.utime(stale, (old, old))
    spool = SpanSpool(directory)  # a later process starts on the same directory
    assert not stale.exists()
    assert fresh.exists()  # may be another live process's write in progress
    assert [path.read_bytes() for path in spool.pending()] == [b"whole"]
