"""A request still in flight when a graceful shutdown's grace runs out is answered
retry later (503 with Retry-After, OTLP's retryable answer), never 500.

The request is held by its own client: its headers and half its body are sent,
the rest is not, so it is in flight, for certain, when the collector is told to
stop. uvicorn then waits out its grace for it and cancels it; the answer to
that cancellation is what is checked.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
from google.rpc import code_pb2, status_pb2

from bench.reliability.otlp_requests import build_run_request
from tests.conftest import start_test_collector
from tests.support import wait_until


def _in_flight(http_endpoint: str) -> int:
    health = httpx.get(f"{http_endpoint}/healthz", timeout=10).json()
    return int(health["inflight_requests"])


def _read_answer(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_export_cut_off_by_shutdown_is_answered_retry_later(tmp_path: Path) -> None:
    # The request deadline must not be what ends the held request.
    handle = start_test_collector(tmp_path / "cut.duckdb", request_timeout_s=300)
    body = build_run_request(1, 1, 3).protobuf()
    stopping: threading.Thread | None = None
    try:
        sock = socket.create_connection(("127.0.0.1", handle.http_port), timeout=120)
        head = (
            "POST /v1/traces HTTP/1.1\r\nHost: collector\r\n"
            "Content-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[: len(body) // 2])
        wait_until(lambda: _in_flight(handle.http_endpoint) == 1, timeout_s=30, what="request held")
        stopping = threading.Thread(target=handle.stop, name="stop")
        stopping.start()
        # A deadline, not a pace: the answer comes once the grace is over.
        answer = _read_answer(sock)
        sock.close()
    finally:
        if stopping is None:
            handle.stop()
        else:
            stopping.join(120)
    assert stopping is not None and not stopping.is_alive()
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    fields = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(b":") for line in headers.split(b"\r\n"))
    )
    assert status_line.startswith(b"HTTP/1.1 503"), answer[:300]
    assert fields[b"retry-after"].isdigit()
    assert fields[b"content-type"] == b"application/x-protobuf"
    status = status_pb2.Status()
    status.ParseFromString(payload[: int(fields[b"content-length"])])
    assert status.code == code_pb2.UNAVAILABLE
    assert handle.running.store.clean_shutdown
