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


def test_stalled_uploads_give_their_room_back_once_others_wait(tmp_path: Path) -> None:
    # Room for two stalled uploads of 1 MiB (2 MiB each at their cost) and nothing more.
    budget = 2 * COST_PER_BYTE["http-protobuf"] * 1024 * 1024
    collector = CollectorProcess(
        tmp_path / "stalled.duckdb",
        log_dir=tmp_path / "logs",
        env={
            "AGENT_AUDIT_MAX_INFLIGHT_BYTES": str(budget),
            "AGENT_AUDIT_MAX_REQUEST_BYTES": str(REQUEST_BYTES),
        },
    ).start()
    sender = HttpSender(collector.http_endpoint)
    stop = threading.Event()
    # ~1.9 MB: at its cost more than half the budget, so both uploads must give way.
    big = build_run_request(2, 2, 8, payload_bytes=240_000)
    small = build_run_request(2, 1, 2, payload_bytes=100_000)
    silent = _stalled_upload(collector.http_port, declared=1024 * 1024, sent=500)
    trickling = _stalled_upload(collector.http_port, declared=1024 * 1024, sent=500)
    try:
        # The other goes on sending a byte every 0.1 s: arriving, but far slower than
        # 1 MiB/s. While no one else needs the room, both keep it (the request
        # timeout, 60 s, bounds that).
        threading.Thread(target=_trickle, args=(trickling, stop), daemon=True).start()
        wait_until(
            lambda: _health(collector)["inflight_bytes"] == budget,
            timeout_s=10,
            what="the stalled bodies to be counted",
        )
        # A sender needing room waits for it: the stalled uploads are cut off and
        # answered retry later; the sender goes through.
        for request in (big, small):
            assert _send_until_acknowledged(sender, request.protobuf()), request
        answer = _read_answer(silent)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"retry-after: 1" in answer.lower(), answer[:300]
        assert b"arrived too slowly" in answer, answer
        # The trickler's bytes still coming after the answer may reset the connection
        # before the client reads it: that it was cut off is what counts here.
        _read_answer(trickling)
        health = _health(collector)
        assert health["inflight_stalled"] == 2, health
        assert health["inflight_bytes"] == 0 and health["inflight_requests"] == 0, health
        assert collector.terminate() == 0
    finally:
        stop.set()
        silent.close()
        trickling.close()
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
    try:
        while chunk := connection.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    return answer


def _trickle(connection: socket.socket, stop: threading.Event) -> None:
    # The attack itself, not a wait for a condition: one byte, then a pause.
    while not stop.wait(0.1):
        try:
            connection.send(b"\0")
        except OSError:  # cut off: what the test wants
            return


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
