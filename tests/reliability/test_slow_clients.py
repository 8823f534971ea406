"""Clients that start a request and never finish it stall no one else.

An OTLP/gRPC call whose headers arrived but whose message never does must not
hold a worker: with a few such calls open (more than the collector has gRPC
workers), an ordinary exporter's request is still answered and stored, over
gRPC and over HTTP. The slow streams are written frame by frame with the
``h2`` library, as a client that stops sending would leave them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import pytest
from opentelemetry.trace import Tracer

from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector

WORKERS = 2
EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(tmp_path / "slow.duckdb", grpc_workers=WORKERS)
    try:
        yield collector
    finally:
        collector.stop()


def open_stalled_calls(port: int, calls: int) -> socket.socket:
    """A connection with ``calls`` Export calls whose message never completes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    for _ in range(calls):
        stream = connection.get_next_available_stream_id()
        connection.send_headers(
            stream,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", EXPORT_PATH),
                (":authority", f"127.0.0.1:{port}"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ],
        )
        # A gRPC message header announcing 64 bytes, then nothing.
        connection.send_data(stream, b"\x00\x00\x00\x00\x40")
    sock.sendall(connection.data_to_send())
    return sock


def _one_run(tracer: Tracer) -> None:
    with tracer.start_as_current_span("invoke_agent patient") as run:
        run.set_attribute("gen_ai.operation.name", "invoke_agent")


@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf"])
def test_stalled_grpc_calls_do_not_hold_the_workers(handle: CollectorHandle, protocol: str) -> None:
    stalled = [open_stalled_calls(handle.grpc_port, 4 * WORKERS) for _ in range(2)]
    try:
        spans = record_spans(_one_run)
        export(protocol, handle, spans)  # asserts the exporter's success within its timeout
        trace_id = format(spans[0].context.trace_id, "032x")
        stored = handle.query("SELECT count(*) FROM spans WHERE trace_id = ?", [trace_id])
        assert stored == [(1,)]
    finally:
        for sock in stalled:
            sock.close()
