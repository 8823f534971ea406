"""Small test aids: waiting on a condition with a deadline, free ports, CI detection,
running the ``agent-audit`` CLI as a subprocess, serving a stand-in HTTP handler."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import pytest

from bench.polling import poll_until

T = TypeVar("T")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO = Path(__file__).resolve().parents[1]


def wait_until(
    condition: Callable[[], T], *, timeout_s: float = 10.0, interval_s: float = 0.02, what: str = ""
) -> T:
    """Poll ``condition`` until it returns a truthy value; fail the test at the deadline."""
    last = poll_until(condition, timeout_s=timeout_s, interval_s=interval_s)
    if not last:
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what or condition}")
    return last


def holds_for(condition: Callable[[], object], *, for_s: float, what: str = "") -> None:
    """Fail if ``condition`` is ever false during ``for_s`` seconds (polled every 0.1 s)."""
    broken = poll_until(lambda: not condition(), timeout_s=for_s, interval_s=0.1)
    assert not broken, f"no longer true: {what or condition}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of the call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Sockets bound and never listening, kept for the whole test process (see unreachable_url).
_HELD: list[socket.socket] = []


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served on 127.0.0.1 (a free port, its own thread) while the block lasts:
    the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def unreachable_url() -> str:
    """``http://127.0.0.1:PORT`` where nothing answers, for as long as the tests run.

    The port stays bound without listening, so a connection is refused; a port only
    found free (``free_port``) could meanwhile be taken by another test's collector.
    """
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    _HELD.append(held)
    return f"http://127.0.0.1:{held.getsockname()[1]}"


def require_or_skip(available: bool, reason: str) -> None:
    """Skip on a developer's machine, fail in CI, when a real part is missing."""
    if available:
        return
    # The skip is only ever taken off CI: in CI a missing part fails the test.
    pytest.fail(f"required in CI: {reason}") if IN_CI else pytest.skip(reason)


def run_cli(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m collector.cli ARGS`` from the repository, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=timeout_s,
    )
