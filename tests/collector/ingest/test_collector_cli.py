"""The real ``agent-audit collector`` command as a subprocess."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import httpx

from tests.collector.ingest.otlp import export, record_spans
from tests.collector.ingest.test_ingest import crash_investigation
from tests.support import require_or_skip, wait_until

REPO = Path(__file__).resolve().parents[3]
READY = re.compile(r"ready grpc=127\.0\.0\.1:(\d+) http=127\.0\.0\.1:(\d+)")


def start_cli(db: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collector.cli",
            "collector",
            "--db",
            str(db),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


class _Endpoints:
    def __init__(self, grpc_port: int, http_port: int) -> None:
        self.grpc_endpoint = f"http://127.0.0.1:{grpc_port}"
        self.http_endpoint = f"http://127.0.0.1:{http_port}"


def test_cli_serves_stops_on_sigterm_and_leaves_a_readable_file(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    proc = start_cli(db)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = READY.search(line)
        assert match, line
        endpoints = _Endpoints(int(match.group(1)), int(match.group(2)))
        health = wait_until(lambda: _health(endpoints.http_endpoint), timeout_s=20, what="/healthz")
        assert health["status"] == "ok"
        export("grpc", endpoints, record_spans(lambda t: crash_investigation(t, "via-grpc")))
        export(
            "http-protobuf", endpoints, record_spans(lambda t: crash_investigation(t, "via-http"))
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT id, status, total_steps FROM agent_runs ORDER BY id").fetchall()
        assert rows == [("via-grpc", "completed", 4), ("via-http", "completed", 4)]
        assert con.execute("SELECT count(*) FROM spans").fetchone() == (10,)


def _health(base: str) -> Any:
    try:
        response = httpx.get(base + "/healthz", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def test_second_collector_on_the_same_file_fails_fast(tmp_path: Path) -> None:
    db = tmp_path / "locked.duckdb"
    first = start_cli(db)
    try:
        assert first.stdout is not None
        assert READY.search(first.stdout.readline())
        second = start_cli(db)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert "in use by another process" in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)


def test_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    proc = start_cli(tmp_path / "x.duckdb", "--host", "0.0.0.0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "without a token" in err
    assert not (tmp_path / "x.duckdb").exists()


# tgkill(2): a signal to one thread of a process, as the kernel may deliver a
# process-directed SIGTERM (docker stop, systemd, kill) to any thread.
_SYS_TGKILL = {"x86_64": 234, "aarch64": 131}


def _signal_thread(pid: int, tid: int, signum: int) -> None:
    number = _SYS_TGKILL.get(os.uname().machine)
    require_or_skip(number is not None, f"tgkill's number is not known on {os.uname().machine}")
    assert number is not None
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill {pid} {tid}")


def test_sigterm_delivered_to_a_worker_thread_stops_the_collector(tmp_path: Path) -> None:
    proc = start_cli(tmp_path / "t.duckdb")
    try:
        assert proc.stdout is not None
        assert READY.search(proc.stdout.readline())
        workers = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
        assert workers, "the collector runs threads besides the main one"
        _signal_thread(proc.pid, workers[-1], signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "agent-audit collector stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
