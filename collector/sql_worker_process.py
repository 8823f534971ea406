"""The collector's handle on one ``/sql`` worker process (:mod:`collector.sql_worker`).

The worker gets a clean environment, a session of its own (a signal to the
collector's process group does not reach it) and one end of a socket pair;
nothing else of the collector's: not its database path, not its settings.
Its scratch files (its spill, or its whole folder when the store has no file)
are removed here once the process is reaped: a worker killed with SIGKILL
cannot clean up after itself, but the collector knows when it died.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector.sql_workspace import HeldFolder

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa

__all__ = ["SandboxLimits", "WorkerProcess", "death_message"]

logger = logging.getLogger(__name__)

# The worker's address-space limit should measure memory in use, not memory
# reserved: pyarrow's default pool (mimalloc) reserves 1 GiB arenas, and glibc
# reserves 64 MiB per thread that allocates. Measured on a 82 MB copy: 2.2 GB
# of address space with these defaults, 0.9 GB without (README, Security).
_ALLOCATORS = {"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "2"}


@dataclass(frozen=True, kw_only=True)
class SandboxLimits:
    """Limits of the query worker (see the README's "Read-only SQL" section)."""

    max_bytes: int = 16 * 1024 * 1024  # JSON bytes of a result
    memory_mb: int = 512  # DuckDB memory_limit in the worker
    temp_mb: int = 1024  # spill to disk at most this much
    threads: int = 1
    address_space_mb: int = 4096  # RLIMIT_AS of the worker process; 0 = none
    grace_s: float = 5.0  # after the time limit, wait this long before killing
    # How long a query waits for the copy to be built or refreshed before it is
    # answered "copy being built, N% done, retry" instead.
    copy_wait_s: float = 5.0

    @property
    def commit_bytes(self) -> int:
        """Arrow bytes the worker loads per transaction: an eighth of its DuckDB
        memory, so a copy of any size loads in bounded memory."""
        return max(4, self.memory_mb // 8) * 1024 * 1024

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "commit_bytes": self.commit_bytes})


class WorkerProcess:
    """One running worker process, its end of the socket, and what its copy holds."""

    def __init__(
        self, limits: SandboxLimits, workdir: Path, own_folder: HeldFolder | None = None
    ) -> None:
        """Start a worker on ``workdir``: a kept copy's folder, or ``own_folder``'s
        (removed with the worker)."""
        self.workdir = workdir
        self._own_folder = own_folder
        self._scratch_lock = threading.Lock()
        self._scratch_removed = False
        parent, child = socket.socketpair()
        env = {k: v for k, v in os.environ.items() if k in {"PATH", "PYTHONPATH", "HOME", "TZ"}}
        env.update(_ALLOCATORS)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "collector.sql_worker",
                str(child.fileno()),
                limits.to_json(),
                str(workdir),
            ],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a signal to the collector's group does not reach it
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.generation: int | None = None
        self.copy_id: str | None = None  # of the last sync committed
        self.spans_seq: int | None = None  # the last chain link whose span the copy holds
        self.spans_count: int | None = None
        # (id, content hash) of the runs and steps the copy holds, per table.
        self.row_hashes: dict[str, pa.Table] = {}

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """End the process (if it still runs), reap it, and remove its scratch files."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.conn.close()
        self.remove_scratch()

    def remove_scratch(self) -> None:
        """Once the process is reaped: its own folder, or the spill in a kept copy's."""
        with self._scratch_lock:  # close() and a refresh thread may both get here
            own, self._own_folder = self._own_folder, None
            try:
                if own is not None:
                    own.remove()
                elif not self._scratch_removed:
                    shutil.rmtree(self.workdir / "spill", ignore_errors=True)
                self._scratch_removed = True
            except OSError:
                logger.exception("could not remove the files of query worker %d", self.pid)

    def receive(self, timeout_s: float) -> dict[str, Any] | None:
        """The next JSON answer, or None when the time ran out."""
        if not self.conn.poll(timeout_s):
            return None
        answer = json.loads(self.conn.recv_bytes())
        if not isinstance(answer, dict):
            raise ValueError("the worker answered with something other than an object")
        return answer

    def exit_code(self) -> int | None:
        """The exit code once the process ended (waiting briefly), else None."""
        code = self.process.poll()
        if code is None:
            try:
                code = self.process.wait(2)
            except subprocess.TimeoutExpired:
                code = None
        return code


def death_message(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"was ended by {name}"
    elif code is not None:
        how = f"exited with code {code}"
    else:
        how = "stopped answering"
    return (
        f"the query worker {how} while running this query; a new one will serve the next "
        "query, and ingest was not affected"
    )
