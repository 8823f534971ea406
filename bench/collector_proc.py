"""A collector started as a subprocess for a benchmark, and what to measure on it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "SpawnedCollector",
    "spawn_collector",
    "proc_status_kb",
    "proc_cpu_s",
    "db_bytes",
    "percentile",
    "RssSampler",
    "cpu_of_request",
    "wait_applied",
    "collectors_per_tree",
]

_READY = re.compile(r"ready grpc=(?P<grpc>\S+):(?P<gport>\d+) http=(?P<http>\S+):(?P<hport>\d+)")
REPO = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def proc_status_kb(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` figure in kB (VmRSS, VmHWM), 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0


def reset_peak_rss(pid: int) -> bool:
    """Set a process's VmHWM back to its current RSS (``clear_refs`` 5, Linux >= 4.0).

    Lets one phase's peak be read apart from an earlier one's; False if not allowed.
    """
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children, 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    # fields[11:15] = utime, stime, cutime, cstime (man 5 proc, counted after the name)
    return sum(int(x) for x in fields[11:15]) / ticks


def db_bytes(db_path: Path) -> int:
    """The database file plus its WAL, in bytes."""
    total = 0
    for path in (db_path, Path(str(db_path) + ".wal")):
        if path.exists():
            total += path.stat().st_size
    return total


@dataclass
class SpawnedCollector:
    """``agent-audit collector`` running in a child process on free loopback ports."""

    process: subprocess.Popen[str]
    db_path: Path
    grpc_target: str
    http_url: str
    ready_s: float
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout_s: float = 120.0) -> float:
        """SIGTERM (commit, CHECKPOINT, close) and wait; return the seconds it took."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return time.monotonic() - started


def spawn_collector(
    db_path: Path,
    *,
    repo: Path = REPO,
    env: dict[str, str] | None = None,
    timeout_s: float = 120.0,
) -> SpawnedCollector:
    """Start ``python -m collector.cli collector`` from ``repo`` and wait for /healthz."""
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = str(repo)
    child_env.update(env or {})
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collector.cli",
            "collector",
            "--db",
            str(db_path),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--log-level",
            "WARNING",
        ],
        cwd=repo,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert process.stdout is not None
    match = None
    while match is None:
        line = process.stdout.readline()
        if not line:
            process.wait(10)
            raise RuntimeError("collector exited before it was ready:\n" + "".join(output))
        output.append(line)
        match = _READY.search(line)
    # Keep draining its output so it never blocks on a full pipe.
    threading.Thread(target=_drain, args=(process, output), daemon=True).start()
    spawned = SpawnedCollector(
        process=process,
        db_path=db_path,
        grpc_target=f"{match['grpc']}:{match['gport']}",
        http_url=f"http://{match['http']}:{match['hport']}",
        ready_s=0.0,
        output=output,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(spawned.http_url + "/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            spawned.stop()
            raise RuntimeError("collector did not answer /healthz in time")
        time.sleep(0.05)  # polling interval
    spawned.ready_s = time.monotonic() - started
    return spawned


def wait_applied(collector: SpawnedCollector, timeout_s: float = 600.0) -> None:
    """Wait until every acknowledged span is applied (acks come once journaled)."""
    deadline = time.monotonic() + timeout_s
    while httpx.get(collector.http_url + "/healthz", timeout=60).json().get("queued_spans"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the request was not applied within {timeout_s:.0f} s")
        time.sleep(0.01)  # polling interval


def cpu_of_request(collector: SpawnedCollector, body: bytes) -> float:
    """Collector CPU seconds for one protobuf request, acknowledged and applied."""
    before = proc_cpu_s(collector.pid)
    response = httpx.post(
        collector.http_url + "/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf"},
        timeout=600,
    )
    response.raise_for_status()
    wait_applied(collector)
    return proc_cpu_s(collector.pid) - before


def _drain(process: subprocess.Popen[str], output: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)


class RssSampler:
    """Samples a process's RSS every ``interval_s`` (VmHWM gives the true peak)."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples_kb: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples_kb.append(proc_status_kb(self.pid, "VmRSS"))


@contextmanager
def collectors_per_tree(
    baseline: Path | None, prefix: str
) -> Iterator[dict[str, SpawnedCollector]]:
    """A collector on a fresh file for this tree ("this tree") and, when given, ``baseline``
    ("baseline"), stopped when the block ends."""
    trees = {"this tree": REPO, **({"baseline": baseline} if baseline else {})}
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        collectors: dict[str, SpawnedCollector] = {}
        try:
            for index, (label, tree) in enumerate(trees.items()):
                collectors[label] = spawn_collector(Path(folder) / f"{index}.duckdb", repo=tree)
            yield collectors
        finally:
            for collector in collectors.values():
                collector.stop()
