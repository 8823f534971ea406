"""HTTP/2 abuse on the gRPC port: exporters on other connections are still served.

Found from outside: one connection opening a thousand ``Export`` calls whose
messages never come held the in-flight budget (collector/bodies_in_flight.py)
until the request timeout, 60 s, and every other exporter, gRPC and HTTP,
was answered retry later meanwhile. Now a call holding room whose message has
not come within a second is ended (retry later) once others wait, and the
next room goes to a connection holding fewer requests, so the abuser delays
others by one call at a time.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx

from bench.reliability.chaos import check_file
from bench.reliability.harness import (
    CollectorProcess,
    GrpcSender,
    HttpSender,
    RunRequest,
    build_run_request,
)
from tests.reliability.test_slow_clients import open_stalled_calls
from tests.support import wait_until

STALLED_CALLS = 1000


def _health(collector: CollectorProcess) -> dict[str, Any]:
    health: dict[str, Any] = httpx.get(f"{collector.api_url}/healthz", timeout=30).json()
    return health


def _acknowledged(send: Any, request: RunRequest, tries: int = 4) -> bool:
    # Bounded: each try is acknowledged, answered retry later, or (on a loaded machine,
    # grpc core still taking the abuser's calls) past its 10 s: all of which an
    # exporter retries. Before, every try for 60 s was answered retry later.
    for _ in range(tries):
        outcome = send(request.protobuf(), timeout_s=10)
        if outcome.acked:
            return True
        assert outcome.kind in ("retryable", "connection"), outcome
    return False


def test_a_thousand_stalled_calls_on_one_connection_do_not_hold_off_other_exporters(
    tmp_path: Path,
) -> None:
    collector = CollectorProcess(tmp_path / "h2.duckdb", log_dir=tmp_path / "logs").start()
    grpc_sender = GrpcSender(collector.grpc_target)
    http_sender = HttpSender(collector.http_endpoint)
    sent = [build_run_request(8, seq, 3, payload_bytes=500) for seq in range(4)]
    abuser: socket.socket | None = None
    try:
        abuser = open_stalled_calls(collector.grpc_port, STALLED_CALLS)
        wait_until(
            lambda: _health(collector)["inflight_waiting"] > 0,
            timeout_s=30,
            what="the stalled calls to take the room and wait for more",
        )
        assert _acknowledged(grpc_sender.send, sent[0])
        assert _acknowledged(http_sender.send, sent[1])
        assert _acknowledged(grpc_sender.send, sent[2])
        assert _acknowledged(http_sender.send, sent[3])
        assert _health(collector)["inflight_stalled"] > 0
        abuser.close()
        wait_until(
            lambda: (h := _health(collector))["inflight_bytes"] == 0 and h["inflight_waiting"] == 0,
            timeout_s=30,
            what="every stalled call's room to be given back",
        )
        assert collector.terminate() == 0
    finally:
        if abuser is not None:
            abuser.close()
        grpc_sender.close()
        http_sender.close()
        collector.kill()
    requests = {r.trace_id: r for r in sent}
    assert check_file(collector.db, requests, requests) == []
