"""``agent-audit up`` and ``agent-audit dashboard`` as real subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pytest

from dashboard.up_cmd import collector_is_ours
from tests.conftest import CollectorHandle
from tests.support import free_port, unreachable_url, wait_until

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
    not_a_database = tmp_path / "x.duckdb"
    not_a_database.write_bytes(b"this is not a DuckDB file\n" * 100)
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "up", "--db", str(not_a_database),
         "--http-port", str(free_port()), "--grpc-port", str(free_port()),
         "--port", str(free_port())],
        env=_env(), cwd=tmp_path, capture_output=True, timeout=90,
    )  # fmt: skip
    assert result.returncode == 1
    assert b"did not become healthy" in result.stderr
    assert b"streamlit" not in result.stdout.lower()
    assert not_a_database.read_bytes() == b"this is not a DuckDB file\n" * 100


@pytest.mark.parametrize("role", ["--grpc-port", "--http-port", "--port"])
def test_up_names_a_port_in_use_and_its_process_before_starting(tmp_path: Path, role: str) -> None:
    names = {"--grpc-port": "OTLP/gRPC", "--http-port": "REST API and OTLP/HTTP",
             "--port": "dashboard"}  # fmt: skip
    ports = {flag: str(free_port()) for flag in names}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports[role] = str(taken.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "collector.cli", "up", "--db", str(tmp_path / "x.duckdb"),
             *(word for pair in ports.items() for word in pair)],
            env=_env(), cwd=tmp_path, capture_output=True, timeout=90,
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"agent-audit up: port {ports[role]} ({names[role]}) on 127.0.0.1")
    assert f"in use by pid {os.getpid()} (" in lines[0]  # this test process holds it
    assert f"choose another with {role} PORT" in lines[0]
    assert "--port-offset N (AGENT_AUDIT_PORT_OFFSET=N)" in lines[0]
    assert not (tmp_path / "x.duckdb").exists()  # nothing was started
    assert result.stdout == b""


def test_collector_names_a_port_in_use_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "collector.cli", "collector", "--db", str(tmp_path / "c.duckdb"),
             "--grpc-port", str(port), "--http-port", "0"],
            env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"agent-audit collector: port {port} (OTLP/gRPC) on 127.0.0.1 is in use by pid "
        f"{os.getpid()} ({_cmdline(os.getpid()).strip()[:77]}"
        + ("...)" if len(_cmdline(os.getpid()).strip()) > 80 else ")")
        + "; choose another with --grpc-port or AGENT_AUDIT_GRPC_PORT"
    ]
    assert not (tmp_path / "c.duckdb").exists()  # refused before the file was created


def _free_offset() -> int:
    """An offset N with 4317+N, 4318+N and 8501+N all free on 127.0.0.1."""

    def all_free(offset: int) -> bool:
        for port in (4317 + offset, 4318 + offset, 8501 + offset):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    return False
        return True

    offset = wait_until(
        lambda: next((n for n in range(20000, 40000, 97) if all_free(n + os.getpid() % 89)), 0),
        timeout_s=5,
        what="a free port offset",
    )
    return offset + os.getpid() % 89


def test_up_port_offset_moves_every_port_and_up_checks_it_is_its_own_collector(
    tmp_path: Path,
) -> None:
    offset = _free_offset()
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "up", "--db", str(tmp_path / "o.duckdb")],
            env=_env() | {"AGENT_AUDIT_PORT_OFFSET": str(offset)},
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    api = f"http://127.0.0.1:{4318 + offset}"
    try:

        def serving() -> bool:
            if process.poll() is not None:
                raise AssertionError(log_path.read_text())
            return b"Ctrl-C stops both" in log_path.read_bytes()

        wait_until(serving, timeout_s=90, interval_s=0.2, what="up reporting success")
        wait_until(lambda: _answers(f"http://127.0.0.1:{8501 + offset}/_stcore/health"),
                   timeout_s=60, what="the dashboard")  # fmt: skip
        output = log_path.read_text()
        assert f"dashboard http://127.0.0.1:{8501 + offset}" in output
        assert f"OTLP/gRPC 127.0.0.1:{4317 + offset}" in output
        (collector,) = [p for p in _children(process.pid) if " collector " in _cmdline(p)]
        health = httpx.get(f"{api}/healthz", timeout=5).json()
        # The collector that answers is the one `up` started and told its instance id.
        assert health["instance_id"] == _environ(collector)["AGENT_AUDIT_INSTANCE_ID"]
        assert len(health["instance_id"]) == 32
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", 4317 + offset)) == 0  # gRPC moved too
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_up_waits_only_for_its_own_collector(collector: CollectorHandle) -> None:
    with httpx.Client(timeout=5) as http:
        theirs = http.get(f"{collector.api_url}/healthz").json()["instance_id"]
        assert collector_is_ours(http, collector.api_url, theirs)
        assert not collector_is_ours(http, collector.api_url, uuid.uuid4().hex)
        assert not collector_is_ours(http, unreachable_url(), theirs)


def test_dashboard_refuses_a_bad_api_url() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "dashboard", "--api", "ftp://nowhere"],
        env=_env(), cwd=REPO_ROOT, capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert b"--api='ftp://nowhere' is not an http(s) URL" in result.stderr


def test_dashboard_serves_the_app_inside_its_asgi_wrapper() -> None:
    # The installed Streamlit has st.App, so the page document gets the base-URL hint
    # (tests/dashboard/test_browser_paint.py checks what it does in Chromium).
    import streamlit

    from dashboard.cli import APP_PATH, SERVED_PATH, streamlit_command

    assert hasattr(streamlit, "App")
    command = streamlit_command("127.0.0.1", 8501)
    assert command[command.index("run") + 1] == str(SERVED_PATH)
    assert 'st.App(\n    "app.py"' in SERVED_PATH.read_text()  # and it serves app.py
    assert SERVED_PATH.parent == APP_PATH.parent
