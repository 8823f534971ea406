"""Real storage faults for tests: a tiny tmpfs of our own, filled to the last byte, and a
prober that sends fresh runs over both receivers and keeps the ledger of what was
acknowledged."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from bench.reliability.harness import (
    CollectorProcess,
    GrpcSender,
    HttpSender,
    Outcome,
    RunRequest,
    build_run_request,
)
from tests.support import require_or_skip

__all__ = ["Prober", "fill_file_system", "small_tmpfs"]


def _mount_works(probe: Path) -> bool:
    probe.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True
    )
    if done.returncode != 0:
        return False
    subprocess.run(["umount", str(probe)], check=True)
    return True


@contextlib.contextmanager
def small_tmpfs(path: Path, size_mib: int) -> Iterator[Path]:
    """A real, tiny file system of our own (as root), unmounted afterwards."""
    require_or_skip(
        os.geteuid() == 0 and _mount_works(path.with_name(path.name + "-probe")),
        "needs root and permission to mount a tmpfs",
    )
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs", str(path)],
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_file_system(directory: Path, *, leave_bytes: int = 0) -> Path:
    """Write a file until the file system is full (but for ``leave_bytes``); return it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
        if leave_bytes:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave_bytes))
    finally:
        os.close(fd)
    assert shutil.disk_usage(directory).free < 4096 + leave_bytes
    return filler


class Prober:
    """Sends fresh requests over both receivers and keeps the ledger."""

    def __init__(self, collector: CollectorProcess) -> None:
        self.grpc = GrpcSender(collector.grpc_target)
        self.http = HttpSender(collector.http_endpoint)
        self.attempted: dict[str, RunRequest] = {}
        self.acked: dict[str, RunRequest] = {}
        self.refused: list[RunRequest] = []
        self.answers: list[str] = []
        self._seq = 0

    def send(self, request: RunRequest, via_grpc: bool) -> Outcome:
        self.attempted[request.trace_id] = request
        outcome = (
            self.grpc.send(request.protobuf()) if via_grpc else self.http.send(request.protobuf())
        )
        self.answers.append(outcome.kind)
        if outcome.acked:
            self.acked[request.trace_id] = request
        return outcome

    def fresh(self, payload_bytes: int) -> tuple[RunRequest, Outcome]:
        self._seq += 1
        request = build_run_request(7, self._seq, 4, payload_bytes=payload_bytes)
        outcome = self.send(request, via_grpc=self._seq % 2 == 0)
        if not outcome.acked:
            self.refused.append(request)
        return request, outcome

    def resend_refused(self) -> bool:
        """Send every refused request again; True when all are acknowledged."""
        still = []
        for number, request in enumerate(self.refused):
            if not self.send(request, via_grpc=number % 2 == 0).acked:
                still.append(request)
        self.refused = still
        return not still

    def close(self) -> None:
        self.grpc.close()
        self.http.close()
