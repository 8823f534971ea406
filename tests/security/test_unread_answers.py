"""A client that never reads its answer does not keep it in the collector.

Found from outside: a client sending a request and never reading the answer
(a socket whose receive window stays shut) held the whole answer in the
collector for ever: 20 such ``/sql`` calls of 16 MB each grew the collector by
600 MB that stayed after the request deadline, and each ``/backup`` left a copy
of the whole database in the temporary folder for as long as the client kept
its socket open. Now a connection whose writer stays paused (the client takes
nothing) for ``AGENT_AUDIT_REQUEST_TIMEOUT_S`` is aborted, its buffer dropped
and a download's temporary file removed; a client that keeps reading, slowly,
gets everything.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CollectorHandle, start_test_collector
from tests.support import wait_until

DEADLINE_S = 2.0
# 12 MB of JSON: more than the kernel buffers of a loopback connection hold.
BIG_SQL = "SELECT repeat('x', 1200) AS filler FROM range(10000)"


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Downloads are staged in the temporary folder: give the collector its own.
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def handle(tmp_path: Path, temp_dir: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(
        tmp_path / "unread.duckdb",
        request_timeout_s=DEADLINE_S,
        sql_copy_dir=tmp_path / "sql",
        sql_max_bytes=16 << 20,
    )
    try:
        yield collector
    finally:
        collector.stop()


def _fill(handle: CollectorHandle, megabytes: int) -> None:
    """Store about ``megabytes`` of incompressible span attributes."""
    for request in range(megabytes):
        spans = [
            {
                "traceId": os.urandom(16).hex(),
                "spanId": os.urandom(8).hex(),
                "name": "filler",
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": "1700000001000000000",
                "attributes": [{"key": "blob", "value": {"stringValue": os.urandom(25000).hex()}}],
            }
            for _ in range(20)
        ]
        body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
        answer = httpx.post(f"{handle.api_url}/v1/traces", json=body, timeout=30)
        assert answer.status_code == 200, (request, answer.text)


def _request(port: int, head: str, body: bytes = b"", receive_buffer: int = 4096) -> socket.socket:
    """Send a request on a socket whose receive window is small (and read nothing)."""
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    conn.connect(("127.0.0.1", port))
    conn.sendall(head.encode() + b"\r\nHost: x\r\n\r\n" + body)
    return conn


def _served_connections(port: int) -> int:
    """Established TCP connections whose local end is the collector's ``port``."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local, _remote, state = line.split()[1:4]
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def _received(conn: socket.socket) -> tuple[int, int]:
    """(declared Content-Length, bytes of body read) once the server is done sending."""
    conn.settimeout(30)
    data = b""
    try:
        while chunk := conn.recv(1 << 20):
            data += chunk
    except ConnectionResetError:
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return length, len(body)


def _sql_request(port: int, receive_buffer: int = 4096) -> socket.socket:
    body = json.dumps({"sql": BIG_SQL}).encode()
    head = f"POST /sql HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return _request(port, head, body, receive_buffer)


def test_an_unread_sql_answer_is_dropped(handle: CollectorHandle) -> None:
    port = handle.http_port
    # The worker's copy is built by the first query; then two at once (the most /sql takes).
    warm = httpx.post(f"{handle.api_url}/sql", json={"sql": "SELECT 1"}, timeout=60)
    assert warm.status_code == 200, warm.text
    unread = [_sql_request(port) for _ in range(2)]
    try:
        # Each answer is written (the worker answers in a second or two), then
        # the writer waits on a client that takes nothing: cut off at the deadline.
        wait_until(
            lambda: _served_connections(port) == 0,
            timeout_s=30,
            what="the collector dropping the answers no one reads",
        )
        for conn in unread:
            length, got = _received(conn)
            assert length > 10_000_000
            assert got < length
        assert httpx.get(f"{handle.api_url}/healthz", timeout=10).status_code == 200
    finally:
        for conn in unread:
            conn.close()


def test_an_unread_backup_leaves_no_copy_behind(handle: CollectorHandle, temp_dir: Path) -> None:
    _fill(handle, 8)
    unread = [_request(handle.http_port, "GET /backup HTTP/1.1") for _ in range(2)]
    try:
        wait_until(lambda: list(temp_dir.iterdir()), timeout_s=60, what="a backup staged")
        wait_until(
            lambda: not list(temp_dir.iterdir()) and _served_connections(handle.http_port) == 0,
            timeout_s=30,
            what="the unread backups removed",
        )
    finally:
        for conn in unread:
            conn.close()


def test_a_client_reading_slowly_gets_the_whole_answer(handle: CollectorHandle) -> None:
    warm = httpx.post(f"{handle.api_url}/sql", json={"sql": "SELECT 1"}, timeout=60)
    assert warm.status_code == 200, warm.text
    conn = _sql_request(handle.http_port, receive_buffer=65536)
    with conn:
        conn.settimeout(30)
        data = b""
        # The client's pace: 64 KB every 50 ms, about 1.3 MB/s, so the 12 MB take
        # several deadlines in all, and the writer pauses and resumes all along.
        while chunk := conn.recv(65536):
            data += chunk
            time.sleep(0.05)
            head, _, body = data.partition(b"\r\n\r\n")
            if body and len(body) >= int(head.split(b"content-length: ")[1].split(b"\r\n")[0]):
                break
    rows = json.loads(body)["rows"]
    assert len(rows) == 10000 and rows[0] == ["x" * 1200]


def test_one_download_at_a_time_until_its_last_byte(tmp_path: Path, temp_dir: Path) -> None:
    # Before, the slot was free once the copy was made: every client asking got
    # a copy of the whole database on disk of its own while it downloaded.
    # A deadline long enough that the held download is not cut off meanwhile.
    handle = start_test_collector(
        tmp_path / "one.duckdb", request_timeout_s=60.0, sql_copy_dir=tmp_path / "sql"
    )
    try:
        _fill(handle, 8)
        held = _request(handle.http_port, "GET /backup HTTP/1.1")
        held.settimeout(60)
        # The copy is made and its download begun; the client reads no further.
        assert held.recv(12) == b"HTTP/1.1 200"
        for path in ("/backup", "/export"):
            busy = httpx.get(f"{handle.api_url}{path}", timeout=60)
            assert busy.status_code == 429, (path, busy.status_code)
        assert len(list(temp_dir.iterdir())) == 1
        held.close()  # the client goes away: its copy goes, the slot is free
        wait_until(lambda: not list(temp_dir.iterdir()), timeout_s=30, what="the copy removed")
        whole = httpx.get(f"{handle.api_url}/backup", timeout=60)
        assert whole.status_code == 200
        assert len(whole.content) > 4_000_000
        # Right after a download, the next one is served (the slot is freed just after).
        assert httpx.get(f"{handle.api_url}/export", timeout=60).status_code == 200
        wait_until(lambda: not list(temp_dir.iterdir()), timeout_s=30, what="the export removed")
    finally:
        handle.stop()
