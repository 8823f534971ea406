"""Many big OTLP requests at once: the bytes held stay within the in-flight budget, every
refusal is one OTLP exporters retry, and every acknowledged span is stored."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from bench.reliability.chaos import check_file
from bench.reliability.flood import flood
from bench.reliability.harness import CollectorProcess, GrpcSender, HttpSender, build_run_request
from collector.bodies_in_flight import COST_PER_BYTE
from tests.reliability.test_overload import _work
from tests.support import wait_until

INFLIGHT_BYTES = 12 * 1024 * 1024
REQUEST_BYTES = 2 * 1024 * 1024
# The most one request is charged: a gRPC call, before its message is read, at the
# largest message allowed (collector/bodies_in_flight.py).
MOST_CHARGED = max(COST_PER_BYTE.values()) * REQUEST_BYTES


def _health(collector: CollectorProcess) -> dict[str, Any]:
    health: dict[str, Any] = httpx.get(f"{collector.api_url}/healthz", timeout=30).json()
    return health


def test_a_flood_of_big_requests_is_held_within_the_budget_and_all_stored(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bodies.duckdb"
    collector = CollectorProcess(
        db,
        log_dir=tmp_path / "logs",
        env={
            "AGENT_AUDIT_MAX_INFLIGHT_BYTES": str(INFLIGHT_BYTES),
            "AGENT_AUDIT_MAX_REQUEST_BYTES": str(REQUEST_BYTES),
        },
    ).start()
    try:
        # 18 senders (gRPC, HTTP protobuf, HTTP JSON) of ~0.6 MB requests: 11 MB offered at
        # once, costing 2 to 3 times that, against a 12 MiB budget.
        work = _work(senders=18, requests_each=2, steps=5, payload_bytes=100_000)
        result = flood(collector.grpc_target, collector.http_endpoint, work, seed=3, deadline_s=240)
        health = _health(collector)
        assert collector.terminate() == 0, collector.stderr_text()[-3000:]
    finally:
        collector.kill()
    assert result.bad_answers == []
    assert result.unacked == []
    # Requests waited for room, or were refused with OTLP's retryable answers (flood
    # checks their hints): the budget was what held them back.
    assert health["inflight_waited"] + health["inflight_refused"] > 0, health
    assert health["inflight_refused"] == result.outcomes["retryable"], (health, result.outcomes)
    # The bound: what others hold plus a newcomer never passes the budget; a request
    # alone may (it is at most one request's charge).
    assert 0 < health["inflight_peak_bytes"] <= max(INFLIGHT_BYTES, MOST_CHARGED), health
    assert health["inflight_bytes"] == 0 and health["inflight_requests"] == 0, health
    requests = {r.trace_id: r for rs in work.values() for r in rs}
    acked = {r.trace_id: r for r in result.acked}
    assert acked.keys() == requests.keys()
    assert check_file(db, requests, acked) == []


def test_a_request_bigger_than_the_budget_goes_through_alone(tmp_path: Path) -> None:
    # Refusing it for ever would make the exporter retry for ever: alone, it is taken.
    collector = CollectorProcess(
        tmp_path / "alone.duckdb",
        log_dir=tmp_path / "logs",
        env={
            "AGENT_AUDIT_MAX_INFLIGHT_BYTES": str(256 * 1024),
            "AGENT_AUDIT_MAX_REQUEST_BYTES": str(REQUEST_BYTES),
        },
    ).start()
    grpc = GrpcSender(collector.grpc_target)
    http = HttpSender(collector.http_endpoint)
    try:
        over_http = build_run_request(1, 1, 5, payload_bytes=100_000)
        over_grpc = build_run_request(1, 2, 5, payload_bytes=100_000)
        assert len(over_http.protobuf()) > 256 * 1024
        assert http.send(over_http.protobuf()).acked
        assert grpc.send(over_grpc.protobuf()).acked
        health = _health(collector)
        assert health["inflight_refused"] == 0
        assert health["inflight_peak_bytes"] >= COST_PER_BYTE["grpc"] * REQUEST_BYTES
        assert collector.terminate() == 0
    finally:
        grpc.close()
        http.close()
        collector.kill()
    requests = {r.trace_id: r for r in (over_http, over_grpc)}
    assert check_file(collector.db, requests, requests) == []


def test_a_stalled_upload_gives_its_room_back_once_others_wait(tmp_path: Path) -> None:
    collector = CollectorProcess(
        tmp_path / "stalled.duckdb",
        log_dir=tmp_path / "logs",
        env={
            "AGENT_AUDIT_MAX_INFLIGHT_BYTES": str(INFLIGHT_BYTES),
            "AGENT_AUDIT_MAX_REQUEST_BYTES": str(REQUEST_BYTES),
        },
    ).start()
    sender = HttpSender(collector.http_endpoint)
    stalled: list[socket.socket] = []
    small = build_run_request(2, 1, 2, payload_bytes=100_000)
    big = build_run_request(2, 2, 8, payload_bytes=150_000)
    try:
        # Bodies that stop halfway hold the room they declared, at their cost: while
        # no one else needs it, they keep it (the request timeout, 60 s, bounds that).
        for _ in range(3):
            stalled.append(_stalled_upload(collector.http_port, declared=REQUEST_BYTES, sent=500))
        held = 3 * COST_PER_BYTE["http-protobuf"] * REQUEST_BYTES
        wait_until(
            lambda: _health(collector)["inflight_bytes"] == held,
            timeout_s=10,
            what="the stalled bodies to be counted",
        )
        # A sender needing room waits for it: the stalled uploads, arriving slower than
        # 1 MiB/s, are cut off and answered retry later; the sender goes through.
        for request in (small, big):
            assert _send_until_acknowledged(sender, request.protobuf()), request
        for connection in stalled:
            answer = _read_answer(connection)
            assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
            assert b"retry-after: 1" in answer.lower(), answer[:300]
            assert b"arrived too slowly" in answer, answer
        health = _health(collector)
        assert health["inflight_stalled"] == 3, health
        assert health["inflight_bytes"] == 0 and health["inflight_requests"] == 0, health
        assert collector.terminate() == 0
    finally:
        for connection in stalled:
            connection.close()
        sender.close()
        collector.kill()
    sent = {r.trace_id: r for r in (small, big)}
    assert check_file(collector.db, sent, sent) == []


def _send_until_acknowledged(sender: HttpSender, body: bytes, tries: int = 5) -> bool:
    # Bounded: a retryable answer is allowed (the exporter would retry), not a refusal for good.
    for _ in range(tries):
        outcome = sender.send(body)
        if outcome.acked:
            return True
        assert outcome.kind == "retryable", outcome
    return False


def _read_answer(connection: socket.socket) -> bytes:
    """Everything the collector sent on ``connection`` until it closed it."""
    connection.settimeout(30)
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer


def _stalled_upload(port: int, *, declared: int, sent: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/x-protobuf\r\nContent-Length: {declared}\r\n\r\n"
    )
    connection.sendall(head.encode() + b"\0" * sent)
    return connection


def test_a_grpc_message_that_never_comes_gives_its_room_back(tmp_path: Path) -> None:
    collector = CollectorProcess(
        tmp_path / "grpc-stalled.duckdb",
        log_dir=tmp_path / "logs",
        env={"AGENT_AUDIT_REQUEST_TIMEOUT_S": "2"},
    ).start()
    never = threading.Event()

    def no_message() -> Iterator[bytes]:
        never.wait(30)  # the call is open, its message never sent
        yield b""

    channel = grpc.insecure_channel(collector.grpc_target)
    try:
        export = channel.stream_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        call = export.future(no_message(), timeout=30)
        wait_until(
            lambda: _health(collector)["inflight_requests"] == 1,
            timeout_s=10,
            what="the open call to take room",
        )
        with pytest.raises(grpc.RpcError) as failed:
            call.result(timeout=30)
        assert failed.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert "did not arrive" in (failed.value.details() or "")
        health = _health(collector)
        assert health["inflight_bytes"] == 0 and health["inflight_requests"] == 0, health
        assert collector.terminate() == 0
    finally:
        never.set()
        channel.close()
        collector.kill()
