"""Out of file descriptors: idle connections give way to clients that send, and the
collector says clearly what ran out.

Found from outside: with the collector's ``ulimit -n`` at 256, 800 idle TCP
connections to the OTLP ports left no descriptor to accept anyone else; every
export and API call timed out for up to the request timeout (60 s), and the
log took a traceback per failed ``accept``, thousands a second. Now idle HTTP
connections are closed when ``accept`` runs out (collector/descriptors.py), a
gRPC connection must send its HTTP/2 preface within 10 s, and one error line
every 10 s at most names the limit.
"""

from __future__ import annotations

import resource
import socket
from pathlib import Path

import httpx

from bench.reliability.chaos import check_file
from bench.reliability.harness import CollectorProcess, HttpSender, build_run_request
from tests.support import wait_until

LIMIT = 128
IDLE_CONNECTIONS = 300


def test_idle_connections_give_way_to_an_exporter_when_descriptors_run_out(
    tmp_path: Path,
) -> None:
    collector = CollectorProcess(tmp_path / "fds.duckdb", log_dir=tmp_path / "logs").start()
    # The collector's own limit, lowered by its PID (a child of this test).
    resource.prlimit(collector.pid, resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
    idle: list[socket.socket] = []
    sender = HttpSender(collector.http_endpoint)
    request = build_run_request(5, 1, 3, payload_bytes=200)
    try:
        for _ in range(IDLE_CONNECTIONS):
            # The kernel completes them into the listen backlog; they send nothing.
            idle.append(socket.create_connection(("127.0.0.1", collector.http_port), timeout=5))
        wait_until(
            lambda: "out of file descriptors" in collector.stderr_text(),
            timeout_s=30,
            what="the collector to report running out of descriptors",
        )
        # An exporter is served while the idle connections are still open (each try
        # bounded by the sender's timeout; the idle ones are closed, not waited out).
        wait_until(
            lambda: sender.send(request.protobuf(), timeout_s=5).acked,
            timeout_s=40,
            what="an exporter to be served while idle connections hold the descriptors",
        )
        health = httpx.get(f"{collector.api_url}/healthz", timeout=10).json()
        assert health["open_files_limit"] == LIMIT, health
        assert 0 < health["open_files"] <= LIMIT, health
        # Said once in a while, in words, not a traceback per failed accept.
        errors = collector.stderr_text()
        assert f"limit {LIMIT}" in errors and "LimitNOFILE" in errors
        assert errors.count("out of file descriptors") <= 10, errors[-3000:]
        assert "socket.accept() out of system resource" not in errors
        assert collector.terminate() == 0
    finally:
        for connection in idle:
            connection.close()
        sender.close()
        collector.kill()
    assert check_file(collector.db, {request.trace_id: request}, {request.trace_id: request}) == []
