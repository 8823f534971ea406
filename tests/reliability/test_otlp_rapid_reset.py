"""HTTP/2 "rapid reset" on the gRPC port: other exporters' spans are still stored.

A connection opening streams and resetting them at once, thousands a second
(CVE-2023-44487), makes grpc core answer an occasional call of *another*
connection ``CANCELLED`` (a bare grpcio asyncio server does the same: 0 to 5 of
800 to 2,000 calls). OTLP lists ``CANCELLED`` as retryable and the SDK's
exporters retry it, so what must hold is that every span of the real exporters,
gRPC and HTTP, sent while the flood goes on is acknowledged and stored.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import pytest
from opentelemetry.trace import Tracer

from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.reliability.test_slow_clients import EXPORT_PATH

FLOOD_STREAMS = 50_000


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(tmp_path / "reset.duckdb")
    try:
        yield collector
    finally:
        collector.stop()


class RapidReset(threading.Thread):
    """Opens ``streams`` Export calls on one connection, resetting each at once."""

    def __init__(self, port: int, streams: int) -> None:
        super().__init__(name="rapid-reset", daemon=True)
        self.port = port
        self.streams = streams
        self.sent = 0
        self.stop = threading.Event()

    def run(self) -> None:
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", EXPORT_PATH),
            (":authority", f"127.0.0.1:{self.port}"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            connection.initiate_connection()
            try:
                while self.sent < self.streams and not self.stop.is_set():
                    stream = connection.get_next_available_stream_id()
                    connection.send_headers(stream, headers)
                    connection.reset_stream(stream)
                    self.sent += 1
                    if self.sent % 100 == 0:
                        sock.sendall(connection.data_to_send())
                sock.sendall(connection.data_to_send())
            except OSError:
                pass  # the collector may close the connection: the flood is over


def _one_run(name: str) -> object:
    def build(tracer: Tracer) -> None:
        with tracer.start_as_current_span(f"invoke_agent {name}") as run:
            run.set_attribute("gen_ai.operation.name", "invoke_agent")
            run.set_attribute("agent_run.id", name)
            with tracer.start_as_current_span("execute_tool probe") as step:
                step.set_attribute("gen_ai.operation.name", "execute_tool")
                step.set_attribute("gen_ai.tool.name", "probe")

    return build


def test_exporters_are_served_while_another_connection_resets_streams(
    handle: CollectorHandle,
) -> None:
    flood = RapidReset(handle.grpc_port, FLOOD_STREAMS)
    flood.start()
    sent: list[str] = []
    try:
        # Export one run at a time for as long as the flood goes on (at least 6).
        while flood.is_alive() or len(sent) < 6:
            name = f"reset-{len(sent)}"
            protocol = "grpc" if len(sent) % 3 else "http-protobuf"
            export(protocol, handle, record_spans(_one_run(name)))  # asserts success
            sent.append(name)
            if len(sent) >= 400:
                break
    finally:
        flood.stop.set()
        flood.join(30)
    assert flood.sent > FLOOD_STREAMS // 2, flood.sent
    rows = handle.query(
        "SELECT id, total_steps FROM agent_runs WHERE id LIKE 'reset-%' ORDER BY id"
    )
    assert dict(rows) == dict.fromkeys(sent, 1)
