"""``agent-audit up`` and ``agent-audit dashboard`` as real subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.support import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AGENT_AUDIT_TOKEN", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)
    return dict(pairs)  # type: ignore[arg-type]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class UpProcess:
    process: subprocess.Popen[bytes]
    http_port: int
    dashboard_port: int
    db: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    http_port, dashboard_port = free_port(), free_port()
    db, log_path = tmp_path / "up.duckdb", tmp_path / "up.log"
    command = [
        sys.executable, "-m", "collector.cli", "up", "--db", str(db),
        "--http-port", str(http_port), "--grpc-port", str(free_port()),
        "--port", str(dashboard_port),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=_env(), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal would give it
        )  # fmt: skip
    try:
        yield UpProcess(process, http_port, dashboard_port, db, log_path)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.parametrize("how", ["SIGTERM to up", "Ctrl-C to the process group"])
def test_up_serves_collector_and_dashboard_and_stops_both(up: UpProcess, how: str) -> None:
    api = f"http://127.0.0.1:{up.http_port}"
    dashboard = f"http://127.0.0.1:{up.dashboard_port}"

    def both_up() -> bool:
        if up.process.poll() is not None:
            raise AssertionError(up.output())
        return _answers(f"{api}/healthz") and _answers(f"{dashboard}/_stcore/health")

    wait_until(both_up, timeout_s=90, interval_s=0.2, what="collector and dashboard serving")
    children = _children(up.process.pid)
    streamlit = [pid for pid in children if "streamlit" in _cmdline(pid)]
    collector = [pid for pid in children if " collector " in _cmdline(pid)]
    assert len(streamlit) == 1 and len(collector) == 1, [_cmdline(p) for p in children]
    assert _environ(streamlit[0])["AGENT_AUDIT_API"] == api  # the dashboard reads this one

    if how == "SIGTERM to up":
        up.process.send_signal(signal.SIGTERM)
    else:
        os.killpg(up.process.pid, signal.SIGINT)
    assert up.process.wait(timeout=60) == 0, up.output()
    assert _refuses(up.http_port) and _refuses(up.dashboard_port)
    for pid in children:  # reaped by `up`, or at worst a zombie that no longer runs
        gone = not Path(f"/proc/{pid}").exists()
        assert gone or "zombie" in Path(f"/proc/{pid}/status").read_text()
    # The collector let go of the file: it opens, with the schema in it.
    with duckdb.connect(str(up.db)) as con:
        assert con.execute("SELECT count(*) FROM agent_runs").fetchone() == (0,)


def test_up_fails_clearly_when_the_collector_cannot_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "collector.cli", "up", "--db", str(tmp_path / "x.duckdb"),
             "--http-port", str(port), "--grpc-port", str(free_port()),
             "--port", str(free_port())],
            env=_env(), cwd=tmp_path, capture_output=True, timeout=90,
        )  # fmt: skip
    assert result.returncode == 1
    assert b"did not become healthy" in result.stderr
    assert b"streamlit" not in result.stdout.lower()


def test_dashboard_refuses_a_bad_api_url() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "dashboard", "--api", "ftp://nowhere"],
        env=_env(), cwd=REPO_ROOT, capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert b"--api='ftp://nowhere' is not an http(s) URL" in result.stderr
