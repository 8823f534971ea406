"""The query API reads at most 1 MiB of a request body.

Found from outside: FastAPI reads a JSON body whole before validating it, so a
400 MB body sent to ``POST /sql`` (or to the cancel and annotation routes) was
read into memory, grew the collector by 800 MB, and only then was refused. A
handful at once would have ended the collector. Now a declared
``Content-Length`` past the limit is answered 413 before the body is read, and
a chunked body as soon as it passes the limit; OTLP keeps its own limit.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.trace import Tracer

from collector.api_body_limit import MAX_API_BODY_BYTES
from tests.collector.ingest.otlp import record_spans, to_request
from tests.conftest import CollectorHandle, start_test_collector

TOKEN = "body-limit-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = ("/sql", "/agent/runs/limit-run/cancel", "/agent/runs/limit-run/annotations")


def _run(tracer: Tracer) -> None:
    with tracer.start_as_current_span("invoke_agent limit") as span:
        span.set_attribute("gen_ai.operation.name", "invoke_agent")
        span.set_attribute("agent_run.id", "limit-run")
        span.set_attribute("agent_run.status", "running")


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    folder = tmp_path_factory.mktemp("body-limit")
    collector = start_test_collector(
        folder / "limit.duckdb", token=TOKEN, sql_copy_dir=folder / "sql"
    )
    try:
        yield collector
    finally:
        collector.stop()


def _head(path: str, framing: str, auth: bool = True) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/json", framing]
    if auth:
        lines.append(f"Authorization: Bearer {TOKEN}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(conn: socket.socket) -> tuple[int, bytes]:
    """Status and body of the answer, read without sending anything more."""
    conn.settimeout(20)
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 2:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("declared", [MAX_API_BODY_BYTES + 1, 10**12, 10**18])
def test_a_declared_length_past_the_limit_is_refused_unread(
    handle: CollectorHandle, path: str, declared: int
) -> None:
    with socket.create_connection(("127.0.0.1", handle.http_port)) as conn:
        conn.sendall(_head(path, f"Content-Length: {declared}"))
        # Not one byte of the body sent: the answer comes anyway.
        status, body = _answer(conn)
    assert status == 413
    assert b"larger than" in body


@pytest.mark.parametrize("path", ROUTES)
def test_a_chunked_body_is_cut_off_at_the_limit(handle: CollectorHandle, path: str) -> None:
    with socket.create_connection(("127.0.0.1", handle.http_port)) as conn:
        conn.sendall(_head(path, "Transfer-Encoding: chunked"))
        piece = b" " * 65536
        for _ in range(MAX_API_BODY_BYTES // len(piece) + 2):
            conn.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        # The body never ends: the answer must not wait for it (before, it
        # was read until the client stopped, then refused).
        status, _ = _answer(conn)
    assert status == 413


def test_a_client_without_the_token_gets_401_before_its_body_is_read(
    handle: CollectorHandle,
) -> None:
    with socket.create_connection(("127.0.0.1", handle.http_port)) as conn:
        conn.sendall(_head("/sql", f"Content-Length: {10**12}", auth=False))
        status, _ = _answer(conn)
    assert status == 401


def test_bodies_within_the_limit_are_served_and_nothing_stored_is_lost(
    handle: CollectorHandle,
) -> None:
    api = handle.api_url
    otlp = to_request(record_spans(_run)).SerializeToString()
    sent = httpx.post(
        f"{api}/v1/traces",
        content=otlp,
        headers={**AUTH, "content-type": "application/x-protobuf"},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    note = httpx.post(
        f"{api}/agent/runs/limit-run/annotations",
        json={"kind": "note", "value": "kept", "author": "a"},
        headers=AUTH,
        timeout=30,
    )
    assert note.status_code == 201, note.text
    # The longest query the API takes, every character escaped: 600 KB of JSON.
    longest = "SELECT '" + "\u00e9" * 99_000 + "' AS s"
    body = json.dumps({"sql": longest}, ensure_ascii=True).encode()
    assert 500_000 < len(body) <= MAX_API_BODY_BYTES
    headers = {**AUTH, "content-type": "application/json"}
    answer = httpx.post(f"{api}/sql", content=body, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["rows"] == [["\u00e9" * 99_000]]
    # Refused bodies change nothing.
    padded = b" " * MAX_API_BODY_BYTES + json.dumps({"kind": "good", "author": "b"}).encode()
    refused = httpx.post(
        f"{api}/agent/runs/limit-run/annotations", content=padded, headers=headers, timeout=30
    )
    assert refused.status_code == 413
    kept = httpx.get(f"{api}/agent/runs/limit-run/annotations", headers=AUTH, timeout=30)
    assert [a["value"] for a in kept.json()["annotations"]] == ["kept"]
    cancel = httpx.post(
        f"{api}/agent/runs/limit-run/cancel", json={"reason": "r"}, headers=AUTH, timeout=30
    )
    # Read and understood: the run has ended, so there is nothing to cancel.
    assert cancel.status_code == 409, cancel.text
