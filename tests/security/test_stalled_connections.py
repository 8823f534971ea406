"""A client that never finishes its request is cut off, so it cannot hold a file
descriptor for ever.

Found from outside: HTTP connections that sent nothing, half a request head, or
part of a body, and gRPC connections with a call whose message never completes,
were kept open indefinitely. With ``ulimit -n`` at 256, 400 such HTTP
connections left the collector unable to accept any other: every export and
API call timed out until the attacker let go. Now an HTTP request must be in
within ``AGENT_AUDIT_REQUEST_TIMEOUT_S`` (1 s here; the application's own time
to answer is not counted), and a gRPC connection gets GOAWAY at 5 times that
age and is closed one timeout later; exporters reconnect.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import Tracer

from tests.collector.ingest.otlp import record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.reliability.test_slow_clients import open_stalled_calls
from tests.support import wait_until

DEADLINE_S = 1.0
HEAD = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(
        tmp_path / "stalled.duckdb", request_timeout_s=DEADLINE_S, sql_timeout_s=3.0
    )
    try:
        yield collector
    finally:
        collector.stop()


STALLS = {
    "nothing sent": b"",
    "half a request head": HEAD,
    "head, then part of the body": HEAD + b"Content-Length: 1000\r\n\r\n{",
    "chunked body never ended": HEAD + b"Transfer-Encoding: chunked\r\n\r\n10\r\n{",
    "half a query API head": b"GET /agent/runs HTTP/1.1\r\nHost: x\r\nX-Slow: ",
}


@pytest.mark.parametrize("case", sorted(STALLS))
def test_a_request_that_never_arrives_is_cut_off(handle: CollectorHandle, case: str) -> None:
    with socket.create_connection(("127.0.0.1", handle.http_port)) as conn:
        conn.sendall(STALLS[case])
        conn.settimeout(DEADLINE_S + 20)
        # The server closes its end: recv returns what is left, then b"" (no timeout).
        while conn.recv(4096):
            pass


def _open_fds() -> int:
    return len(os.listdir(f"/proc/{os.getpid()}/fd"))


def test_stalled_connections_give_their_descriptors_back(handle: CollectorHandle) -> None:
    before = _open_fds()
    stalled = [socket.create_connection(("127.0.0.1", handle.http_port)) for _ in range(100)]
    try:
        for conn in stalled:
            conn.sendall(HEAD)
        # Each client socket plus the collector's end of it, in this same process.
        wait_until(lambda: _open_fds() >= before + 200, timeout_s=10, what="connections accepted")
        wait_until(
            lambda: _open_fds() <= before + 100 + 5,
            timeout_s=DEADLINE_S + 20,
            what="the collector closing the stalled connections",
        )
        answer = httpx.get(f"{handle.api_url}/agent/runs", timeout=10)
        assert answer.status_code == 200
    finally:
        for conn in stalled:
            conn.close()


def test_the_time_taken_to_answer_is_not_counted(handle: CollectorHandle) -> None:
    # A query stopped at its 3 s time limit answers well after the 1 s deadline.
    response = httpx.post(
        f"{handle.api_url}/sql",
        json={"sql": "SELECT count(*) FROM range(1000000000000)"},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert "time limit" in response.json()["detail"]


def test_a_kept_alive_connection_serves_request_after_request(handle: CollectorHandle) -> None:
    with httpx.Client(base_url=handle.api_url, timeout=10) as client:
        for _ in range(5):
            assert client.get("/agent/runs").status_code == 200


def test_a_grpc_connection_with_a_call_that_never_completes_is_closed(
    handle: CollectorHandle,
) -> None:
    conn = open_stalled_calls(handle.grpc_port, 3)
    with conn:
        # GOAWAY at 5 s (grpc adds up to 10% jitter), closed 1 s later; then b"".
        conn.settimeout(5 * DEADLINE_S * 1.1 + DEADLINE_S + 20)
        while conn.recv(4096):
            pass


def _run(tracer: Tracer) -> None:
    with tracer.start_as_current_span("invoke_agent steady") as run:
        run.set_attribute("gen_ai.operation.name", "invoke_agent")


def test_an_exporter_keeps_exporting_across_connection_ages(handle: CollectorHandle) -> None:
    # One exporter (one channel) exporting back to back for 8 s: its connection is
    # aged out (GOAWAY at 5 s) while it works, and not one export fails.
    exporter = OTLPSpanExporter(endpoint=handle.grpc_endpoint, insecure=True, timeout=10)
    sent: list[str] = []
    until = time.monotonic() + 8 * DEADLINE_S
    try:
        while time.monotonic() < until:
            spans = record_spans(_run)
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            sent.append(format(spans[0].context.trace_id, "032x"))
    finally:
        exporter.shutdown()
    stored = handle.query("SELECT count(DISTINCT trace_id) FROM spans")
    assert stored == [(len(sent),)]
