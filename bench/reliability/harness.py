"""What the reliability tests and the soak runs share: the collector as a subprocess.

Requests with known ids live in :mod:`bench.reliability.otlp_requests`, the raw
senders in :mod:`bench.reliability.senders`; both are re-exported here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.polling import poll_until
from bench.reliability.otlp_requests import RunRequest, build_run_request, kv
from bench.reliability.senders import EXPORT_METHOD, GrpcSender, HttpSender, Outcome

__all__ = [
    "REPO",
    "EXPORT_METHOD",
    "CollectorExited",
    "CollectorNotReady",
    "CollectorProcess",
    "Outcome",
    "RunRequest",
    "GrpcSender",
    "HttpSender",
    "build_run_request",
    "kv",
    "vm_hwm_kib",
    "vm_rss_kib",
]

REPO = Path(__file__).resolve().parents[2]
_READY = re.compile(r"ready grpc=([\d.]+):(\d+) http=([\d.]+):(\d+)")


# --- the collector as a subprocess -------------------------------------------------


class CollectorExited(RuntimeError):
    """The collector process ended before printing its ready line."""


class CollectorNotReady(RuntimeError):
    """The collector was not ready in time (it has been killed)."""


class CollectorProcess:
    """``agent-audit collector`` in a child process; stdout and stderr go to files.

    Files, not pipes: a chatty collector must never block on a full pipe.
    """

    def __init__(
        self,
        db: Path,
        *,
        log_dir: Path,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        grpc_port: int = 0,
        http_port: int = 0,
        name: str = "collector",
    ) -> None:
        self.db = Path(db)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.log_dir / f"{name}.{time.time_ns()}.out"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        self._args = [
            sys.executable,
            "-m",
            "collector.cli",
            "collector",
            "--db",
            str(self.db),
            "--grpc-port",
            str(grpc_port),
            "--http-port",
            str(http_port),
            *extra_args,
        ]
        self._env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.grpc_port = 0
        self.http_port = 0

    # lifecycle
    def start(self, *, ready_timeout_s: float = 60.0) -> CollectorProcess:
        """Start and wait for the ready line; raise if the process exits first."""
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                self._args, stdout=out, stderr=err, env=self._env, cwd=REPO
            )
        proc = self.proc

        def ready_or_exited() -> re.Match[str] | bool | None:
            found = _READY.search(self.stdout_path.read_text(errors="replace"))
            return found or proc.poll() is not None

        match = poll_until(ready_or_exited, timeout_s=ready_timeout_s, interval_s=0.01)
        if isinstance(match, re.Match):
            self.grpc_port, self.http_port = int(match.group(2)), int(match.group(4))
            return self
        if proc.poll() is not None:
            raise CollectorExited(
                f"collector exited with {proc.returncode} before it was ready:\n"
                f"{self.stderr_text()[-4000:]}"
            )
        self.kill()
        raise CollectorNotReady(f"collector not ready after {ready_timeout_s}s")

    def run_to_exit(self, timeout_s: float = 60.0) -> int:
        """Start and wait for the process to end (for start-up refusals)."""
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                self._args, stdout=out, stderr=err, env=self._env, cwd=REPO
            )
        try:
            return self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.kill()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL this collector (by its PID) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    # what tests look at
    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def api_url(self) -> str:
        return self.http_endpoint

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def vm_hwm_kib(self) -> int:
        return vm_hwm_kib(self.pid)

    def vm_rss_kib(self) -> int:
        return vm_rss_kib(self.pid)


def _status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def vm_hwm_kib(pid: int) -> int:
    """Peak resident memory of a live process (kernel's VmHWM), KiB."""
    return _status_kib(pid, "VmHWM")


def vm_rss_kib(pid: int) -> int:
    """Current resident memory of a live process, KiB."""
    return _status_kib(pid, "VmRSS")
