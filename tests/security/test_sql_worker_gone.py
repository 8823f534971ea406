"""A query sent to a worker whose socket is gone is a 503, and the next query is served.

Found from outside: a worker whose end of the socket closed while the process still
ran (it was exiting) passed the collector's liveness check, and sending it the query
raised ``BrokenPipeError`` out of the route: a 500 with a traceback in the log. Here
the worker is stopped (SIGSTOP: alive to the check) and its socket shut down from
outside, through a copy of its descriptor (``pidfd_getfd``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CollectorHandle, start_test_collector
from tests.sql_client import post_sql

_SYS_PIDFD_GETFD = 438  # x86-64 and arm64


def _shut_worker_socket(pid: int) -> None:
    """Shut down the worker's end of its socket (its descriptor is argv[3])."""
    fd = int(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3])
    pidfd = os.pidfd_open(pid)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        copy = libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
        assert copy >= 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    with socket.socket(fileno=copy) as worker_end:
        worker_end.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(tmp_path / "gone.duckdb")
    try:
        yield collector
    finally:
        collector.stop()


def test_a_worker_without_its_socket_is_a_503(handle: CollectorHandle) -> None:
    assert post_sql(handle.api_url, "SELECT 1").json()["rows"] == [[1]]
    app: Any = handle.running.http_server.config.app
    sandbox = app.state.sql_sandbox
    worker = sandbox.worker_pid
    assert worker is not None
    os.kill(worker, signal.SIGSTOP)
    try:
        _shut_worker_socket(worker)
        answer = post_sql(handle.api_url, "SELECT 2")
    finally:
        # The collector kills it when it notices; a worker it did not is let go.
        if sandbox.worker_pid == worker:
            os.kill(worker, signal.SIGCONT)
    assert answer.status_code == 503, answer.text
    assert "query worker" in answer.json()["detail"]
    assert sandbox.worker_pid != worker
    assert post_sql(handle.api_url, "SELECT 3").json()["rows"] == [[3]]
