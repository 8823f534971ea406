"""docker-compose.yml's services, run as the processes the containers would run.

No container engine can start the stack here (see the README's Docker Compose section),
so each service's ``command`` from the file runs as ``agent-audit <command>`` with the
service's ``environment`` as compose interpolates it. Only what a container provides
is swapped in: loopback for ``0.0.0.0``, free ports for the fixed ones, the other
services' addresses for their compose host names, a temporary directory for /data.
A run then flows through them: agent -> collector (token required) -> dashboard.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.test_compose import COMPOSE, service_env
from tests.scripted_llm import ScriptedLLM, answer
from tests.support import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "compose-test-token"  # noqa: S105 - a test value


class Stack:
    """The compose services as local processes; ``localize`` maps container values."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.ports = {
            "4317": free_port(),
            "4318": free_port(),
            "8501": free_port(),
            "8000": free_port(),
        }
        self.processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def localize(self, value: str) -> str:
        def service_url(match: re.Match[str]) -> str:
            return f"http://127.0.0.1:{self.ports[match.group(2)]}"

        value = re.sub(r"http://(collector|agent|dashboard):(\d+)", service_url, value)
        value = re.sub(
            r"http://127\.0\.0\.1:(4318|8000)/",
            lambda m: f"http://127.0.0.1:{self.ports[m.group(1)]}/",
            value,
        )
        if value == "0.0.0.0":  # noqa: S104 - compared, never bound
            return "127.0.0.1"
        if value in self.ports:
            return str(self.ports[value])
        if value == "/data" or value.startswith("/data/"):
            return str(self.data) + value.removeprefix("/data")
        return value

    def start(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        service = COMPOSE["services"][name]
        command = [self.localize(word) for word in service["command"]]
        env = {
            k: self.localize(v) for k, v in service_env(name, {"AGENT_AUDIT_TOKEN": TOKEN}).items()
        }
        if name == "collector":  # the image's defaults, published on the host's fixed ports
            env |= {"AGENT_AUDIT_GRPC_PORT": str(self.ports["4317"]),
                    "AGENT_AUDIT_HTTP_PORT": str(self.ports["4318"])}  # fmt: skip
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_AUDIT_", "OTEL_"))}
        log = self.data / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", *command],
                env=base | env | (extra_env or {}) | {"PYTHONPATH": str(REPO_ROOT)},
                cwd=self.data, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.processes.append((name, process, log))

    def healthcheck(self, name: str) -> subprocess.CompletedProcess[str]:
        """The service's own healthcheck command (``CMD python -c ...``), run here."""
        test = COMPOSE["services"][name]["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == "python"
        argv = [sys.executable, *(self.localize(word) for word in test[2:])]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    def alive(self) -> None:
        for name, process, log in self.processes:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited: {log.read_text(errors='replace')}")

    def stop(self) -> None:
        for _name, process, _log in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_the_compose_services_commands_carry_a_run_from_agent_to_dashboard(
    stack: Stack, tmp_path: Path
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    api = f"http://127.0.0.1:{stack.ports['4318']}"

    stack.start("collector")

    def healthy() -> bool:
        stack.alive()
        return stack.healthcheck("collector").returncode == 0

    wait_until(healthy, timeout_s=60, interval_s=0.3, what="the collector's healthcheck")
    assert httpx.get(f"{api}/agent/runs", timeout=5).status_code == 401  # the token is required

    stack.start("dashboard")
    with ScriptedLLM(served_model="qwen2.5-coder:7b") as llm:
        # The model server and the (absent) SSH host are the user's; the rest is the file's.
        stack.start("agent", {"AGENT_AUDIT_LLM_BASE_URL": llm.base_url, "AGENT_AUDIT_SSH_HOST": ""})

        def agent_healthy() -> bool:
            stack.alive()
            return stack.healthcheck("agent").returncode == 0

        wait_until(agent_healthy, timeout_s=90, interval_s=0.3, what="the agent's healthcheck")
        llm.script("Which containers restarted today?", [answer("None restarted today.")])
        agent_url = f"http://127.0.0.1:{stack.ports['8000']}"
        response = httpx.post(
            f"{agent_url}/agent/run",
            json={"task": "Which containers restarted today?", "source": "compose-test"},
            headers=auth,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["status"] == "completed"

    def stored() -> dict[str, object] | None:
        answer_ = httpx.get(f"{api}/agent/runs/{result['run_id']}", headers=auth, timeout=5)
        if answer_.status_code != 200 or answer_.json()["status"] == "running":
            return None
        body: dict[str, object] = answer_.json()
        return body

    run = wait_until(stored, timeout_s=30, what="the agent's run in the collector")
    assert run is not None
    assert run["source"] == "compose-test" and run["final_answer"] == "None restarted today."
    dashboard = f"http://127.0.0.1:{stack.ports['8501']}"
    wait_until(
        lambda: httpx.get(f"{dashboard}/_stcore/health", timeout=5).status_code == 200,
        timeout_s=90,
        what="the dashboard",
    )
    stack.alive()
    assert (tmp_path / "agent_audit.duckdb").exists()  # the collector's file in "/data"
