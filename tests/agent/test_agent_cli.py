"""``agent-audit agent`` as a real subprocess: settings from the environment, tracing, spool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.server import start_collector
from collector.settings import Settings as CollectorSettings
from tests.conftest import CollectorHandle
from tests.scripted_llm import ScriptedLLM, answer, call_tool, fail
from tests.support import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def agent_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_AUDIT_", "OTEL_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env | variables


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def start_agent_process(
    env: dict[str, str], tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> tuple[subprocess.Popen[str], str, dict[str, object]]:
    """``agent-audit agent`` on a free port, once its ``/healthz`` answers: the process,
    its URL and that answer."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "agent", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    processes.append(process)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> dict[str, object] | None:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            response = httpx.get(f"{url}/healthz", timeout=1)
        except httpx.TransportError:
            return None
        return response.json() if response.status_code == 200 else None

    health = wait_until(healthy, timeout_s=30, what="agent /healthz")
    return process, url, health


def test_cli_serves_runs_and_its_spool_delivers_them_once_the_collector_is_up(
    llm: ScriptedLLM, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    grpc_port, http_port = free_port(), free_port()
    data_dir = tmp_path / "agent-data"
    env = agent_env(
        AGENT_AUDIT_LLM_BASE_URL=llm.base_url,
        AGENT_AUDIT_LLM_MODEL="llama3.1:8b",
        AGENT_AUDIT_AGENT_DATA_DIR=str(data_dir),
        AGENT_AUDIT_AGENT_TOOL_MODULES="tests.agent.sample_tools",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{grpc_port}",
        AGENT_AUDIT_API=f"http://127.0.0.1:{http_port}",
    )
    process, url, health = start_agent_process(env, tmp_path, processes)
    assert health["tools"] == ["uptime_of"]
    assert health["model"] == "llama3.1:8b"
    assert health["ssh_host"] is None

    # The collector is not running yet: the run still works, its spans wait in the spool.
    llm.script("CLI-RUN", [call_tool("uptime_of", {"host": "nas"}), answer("nas is up 12 days")])
    response = httpx.post(
        f"{url}/agent/run", json={"task": "CLI-RUN how long is nas up?"}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["final_answer"] == "nas is up 12 days"
    spool = data_dir / "spool"
    wait_until(lambda: any(spool.glob("*.otlp")), timeout_s=20, what="spans in the spool")

    settings = CollectorSettings(
        db_path=tmp_path / "audit.duckdb", grpc_port=grpc_port, http_port=http_port
    )
    collector = CollectorHandle(start_collector(settings), settings.db_path)
    try:

        def stored() -> list[tuple[object, ...]]:
            return collector.query(
                "SELECT status, service_name, model_requested, total_steps FROM agent_runs "
                "WHERE id = ? AND is_final AND status <> 'running'",
                [body["run_id"]],
            )

        rows = wait_until(stored, timeout_s=30, what="the spooled run in the collector")
        assert rows == [("completed", "agent-audit-agent", "llama3.1:8b", 4)]
        steps = collector.query(
            "SELECT action_type, tool_name FROM agent_steps WHERE agent_run_id = ? "
            "AND is_final ORDER BY step_number",
            [body["run_id"]],
        )
        assert steps == [
            ("think", None),
            ("tool_call", "uptime_of"),
            ("think", None),
            ("response", None),
        ]
        wait_until(lambda: not any(spool.glob("*.otlp")), timeout_s=10, what="spool emptied")

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        collector.stop()


def test_cli_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    env = agent_env(AGENT_AUDIT_AGENT_DATA_DIR=str(tmp_path), AGENT_AUDIT_AGENT_HOST="0.0.0.0")
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "agent", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "AGENT_AUDIT_AGENT_HOST" in result.stderr
    assert "AGENT_AUDIT_TOKEN" in result.stderr


LOG_CANARIES = ("pw-llm-canary-4242", "sk-canary-log-0123456789abcdef")


def test_cli_logs_and_banner_never_show_a_secret(
    llm: ScriptedLLM, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    """Credentials in the model server's URL and secrets in its error text stay out of the
    service's output: the start banner, httpx's request lines and the run-failed warning."""
    base_url = llm.base_url.replace("http://", f"http://llmuser:{LOG_CANARIES[0]}@")
    env = agent_env(
        AGENT_AUDIT_LLM_BASE_URL=base_url,
        AGENT_AUDIT_LLM_MAX_RETRIES="0",
        AGENT_AUDIT_AGENT_SPOOL="false",
        AGENT_AUDIT_AGENT_DATA_DIR=str(tmp_path / "agent-data"),
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        AGENT_AUDIT_API=f"http://127.0.0.1:{free_port()}",
    )
    process, url, _ = start_agent_process(env, tmp_path, processes)
    llm.script("LOG-LEAK", [fail(500, f"upstream rejected api_key={LOG_CANARIES[1]}")])
    response = httpx.post(f"{url}/agent/run", json={"task": "LOG-LEAK go"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "failed"
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert "run failed: model server http://127.0.0.1:" in output  # logged, without the secret
    assert "POST http://" in output  # httpx's request line is there too
    for canary in LOG_CANARIES:
        assert canary not in output, output
