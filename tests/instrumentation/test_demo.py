"""``agent-audit demo`` as a subprocess against the real collector."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from instrumentation.demo import _plan
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
