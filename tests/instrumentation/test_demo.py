"""``agent-audit demo`` as a subprocess against the real collector."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.server import start_collector
from collector.settings import Settings
from instrumentation.demo import FOLLOW_REFUSAL, _plan
from ssh_tools.allowlist import Refusal, check_argv
from tests.conftest import CollectorHandle
from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_demo_sends_every_kind_of_run(collector: CollectorHandle, protocol: str) -> None:
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    done = _demo(
        "--endpoint", endpoint, "--protocol", protocol, "--api", collector.api_url,
        "--runs", "5", "--running-seconds", "1", "--pace", "0.01",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("run ")]) == 6  # + "running" line

    def finished_runs() -> list[tuple[Any, ...]]:
        rows = collector.query("SELECT status FROM agent_runs")
        return rows if len(rows) == 5 and ("running",) not in rows else []

    statuses = sorted(status for (status,) in wait_until(finished_runs, timeout_s=15))
    assert statuses == ["completed", "completed", "completed", "failed", "max_steps"]
    # the crash investigation: think, docker_ps, think, docker_logs, docker_inspect, think, response
    tools = collector.query(
        "SELECT s.tool_name FROM agent_steps s JOIN agent_runs r ON r.id = s.agent_run_id"
        " WHERE r.task LIKE 'web-1%' AND s.action_type = 'tool_call' ORDER BY s.step_number"
    )
    assert tools == [("docker_ps",), ("docker_logs",), ("docker_inspect",)]
    [(error,)] = collector.query("SELECT error FROM agent_runs WHERE status = 'failed'")
    assert error.startswith("ConnectionError: ssh: connect to host")


def test_demo_against_no_collector_says_so_and_exits_non_zero() -> None:
    port = free_port()
    done = _demo(
        "--endpoint", f"http://127.0.0.1:{port}", "--runs", "2", "--pace", "0",
    )  # fmt: skip
    assert done.returncode == 1
    assert "could not be sent" in done.stdout


def test_plan_has_every_kind_once_enough_runs_are_asked() -> None:
    assert _plan(1) == ["completed"]
    assert _plan(4) == ["completed", "failed", "max_steps", "running"]
    assert _plan(6) == ["completed"] * 3 + ["failed", "max_steps", "running"]


def _port_pair_free(port: int) -> bool:
    for candidate in (port, port + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                return False
    return True


@pytest.fixture
def paired_collector(tmp_path: Path) -> Iterator[CollectorHandle]:
    """A collector on a port pair as `agent-audit up` lays it out: gRPC P, HTTP and API P + 1."""
    grpc_port = wait_until(
        lambda: next((p for p in [free_port()] if p < 65535 and _port_pair_free(p)), 0),
        timeout_s=10,
        what="two free consecutive ports",
    )
    db_path = tmp_path / "paired.duckdb"
    settings = Settings(db_path=db_path, grpc_port=grpc_port, http_port=grpc_port + 1)
    handle = CollectorHandle(start_collector(settings), db_path)
    try:
        yield handle
    finally:
        handle.stop()


def test_demo_given_only_an_endpoint_reads_cancel_requests_from_that_collector(
    paired_collector: CollectorHandle, tmp_path: Path
) -> None:
    collector = paired_collector
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENT_AUDIT_"))}
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "demo", "--endpoint", collector.grpc_endpoint,
             "--runs", "4", "--running-seconds", "90", "--pace", "0.01"],
            stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
            env=env | {"PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    try:

        def running_run() -> str | None:
            rows = collector.query(
                "SELECT id FROM agent_runs WHERE status = 'running' AND task LIKE 'watch api-1%'"
            )
            return rows[0][0] if rows else None

        run_id = wait_until(running_run, timeout_s=60, what="the demo's running run")
        assert f"cancel requests from {collector.api_url}" in log.read_text()
        answer = httpx.post(
            f"{collector.api_url}/agent/runs/{run_id}/cancel",
            json={"requested_by": "test", "reason": "enough"},
            timeout=5,
        )
        assert answer.status_code == 202, answer.text
        # Far sooner than the 90 s it would run: the demo saw the cancel on this collector.
        assert demo.wait(timeout=45) == 0, log.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()

    def ended() -> str | None:
        rows = collector.query("SELECT status FROM agent_runs WHERE id = ?", [run_id])
        return rows[0][0] if rows and rows[0][0] != "running" else None

    assert wait_until(ended, timeout_s=15, what="the cancelled run") == "cancelled"


def test_demo_tools_take_time_and_the_refusal_is_planned_and_labelled(
    collector: CollectorHandle,
) -> None:
    pace_s = 0.02
    done = _demo(
        "--endpoint", collector.grpc_endpoint, "--api", collector.api_url,
        "--runs", "6", "--running-seconds", "0.2", "--pace", str(pace_s),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (nginx_line,) = [line for line in done.stdout.splitlines() if "nginx" in line]
    assert "refused by the allowlist, on purpose: docker logs --follow" in nginx_line
    ended = [line for line in done.stdout.splitlines() if line.startswith("run ")][:-2]
    ended.append(done.stdout.splitlines()[-2])  # the running run's second line
    assert len(ended) == 6 and all(line.endswith(" s]") for line in ended), ended  # elapsed

    def all_finished() -> list[tuple[Any, ...]]:
        rows = collector.query("SELECT id, status, metadata, task FROM agent_runs")
        return rows if len(rows) == 6 and all(r[1] != "running" for r in rows) else []

    runs = wait_until(all_finished, timeout_s=20, what="the six demo runs")
    steps = collector.query(
        "SELECT r.task, s.tool_name, s.tool_args, s.status, s.error, s.duration_ms"
        " FROM agent_steps s JOIN agent_runs r ON r.id = s.agent_run_id"
        " WHERE s.action_type = 'tool_call' ORDER BY r.task, s.step_number"
    )
    nginx = [s for s in steps if s[0].startswith("users get 502 from nginx")]
    assert [(s[1], s[3]) for s in nginx] == [
        ("docker_ps", "ok"), ("docker_logs", "error"), ("docker_logs", "ok"),
        ("docker_inspect", "ok"),
    ]  # fmt: skip
    refused = nginx[1]
    assert json.loads(refused[2])["follow"] is True
    # The demo's refusal is the one the SSH tools' real allowlist gives.
    verdict = check_argv(["docker", "logs", "--follow", "--tail", "20", "nginx"])
    assert isinstance(verdict, Refusal) and verdict.reason == FOLLOW_REFUSAL
    assert refused[4] == f"PolicyRefused: refused by client policy: {FOLLOW_REFUSAL}"
    # Only that step asks to follow: the refusal is the planned one, not an accident.
    assert [s for s in steps if "follow" in (s[2] or "")] == [refused]
    (nginx_run,) = [r for r in runs if r[3].startswith("users get 502")]
    assert nginx_run[1] == "completed"
    assert json.loads(nginx_run[2])["planned_refusal"] == "docker logs --follow"
    # Tools take a few multiples of the pace, as real ones do (not 0 ms).
    least = {"docker_ps": 1.5, "docker_logs": 2.0, "docker_inspect": 1.0}
    for task, tool, _args, status, _error, duration_ms in steps:
        if status == "ok" and tool in least:
            assert duration_ms >= least[tool] * pace_s * 1000 * 0.9, (task, tool, duration_ms)
