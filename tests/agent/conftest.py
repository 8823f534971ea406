"""The agent service for tests: real uvicorn on 127.0.0.1, the scripted LLM, the real collector.

Spans go over OTLP/gRPC to the ``collector`` fixture through our own provider
(``configure(tracer_provider=...)``), so the result does not depend on which
global provider an earlier test installed. The SSH server is the ``sshd``
fixture of tests/ssh (real OpenSSH, the gateway, the recording docker).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import TracerProvider

from agent.app import create_app
from agent.registry import ToolRegistry
from agent.service import AgentService
from agent.settings import AgentSettings
from ssh_tools.connection import SSHConnection
from ssh_tools.settings import SSHSettings
from ssh_tools.tools import ServerTools
from tests.conftest import CollectorHandle
from tests.deploy.chat import chat_webhook  # noqa: F401 - the fixture, shared
from tests.scripted_llm import ScriptedLLM
from tests.ssh.conftest import SSHServer, sshd  # noqa: F401 - the fixture, shared
from tests.support import wait_until
from tests.tracing import traced_to

# The model name the scripted server reports: an Ollama-style tag, not the requested name.
SERVED_MODEL = "qwen2.5-coder:7b-instruct"


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    """A scripted OpenAI-compatible server on 127.0.0.1 that serves ``SERVED_MODEL``."""
    with ScriptedLLM(served_model=SERVED_MODEL) as server:
        yield server


@dataclass
class Tracing:
    """Spans from this test process to the test collector."""

    collector: CollectorHandle
    provider: TracerProvider

    def flush(self) -> None:
        assert self.provider.force_flush(10_000), "spans not exported"

    def run(self, run_id: str, *, timeout_s: float = 15.0) -> dict[str, Any]:
        """The finished run from the collector's REST API, with its steps."""
        self.flush()

        def finished() -> dict[str, Any] | None:
            response = httpx.get(f"{self.collector.api_url}/agent/runs/{run_id}", timeout=5)
            if response.status_code != 200:
                return None
            body: dict[str, Any] = response.json()
            if body["status"] == "running" or not body.get("is_final", True):
                return None
            if any(step["status"] == "running" for step in body["steps"]):
                return None
            return body

        found = wait_until(finished, timeout_s=timeout_s, what=f"run {run_id} in the collector")
        assert found is not None
        return found


@pytest.fixture
def tracing(collector: CollectorHandle) -> Iterator[Tracing]:
    with traced_to(collector, "agent-tests") as provider:
        yield Tracing(collector, provider)


@dataclass
class AgentServer:
    """A running agent service."""

    url: str
    service: AgentService
    http: httpx.Client

    def run(self, **body: Any) -> httpx.Response:
        return self.http.post("/agent/run", json=body)


@pytest.fixture
def start_agent(llm: ScriptedLLM) -> Iterator[Callable[..., AgentServer]]:
    """``start_agent(ssh=None, registry=None, port=0, **settings)`` -> a served agent.

    ``ssh``: the test sshd (its own client settings) or client settings of its own.
    ``port``: a port chosen earlier (a workflow already points at it); 0 for any free one.
    """
    started: list[tuple[uvicorn.Server, threading.Thread, AgentServer]] = []

    def start(
        *,
        ssh: SSHServer | SSHSettings | None = None,
        registry: ToolRegistry | None = None,
        port: int = 0,
        **overrides: Any,
    ) -> AgentServer:
        options: dict[str, Any] = {
            "llm_base_url": llm.base_url,
            "llm_model": "qwen2.5-coder",
            "llm_provider": "ollama",
            "llm_backend": "test-gpu",
            "llm_timeout_s": 10.0,
            "llm_max_retries": 0,
            "spool_dir": None,
            "ssh": ssh.settings() if isinstance(ssh, SSHServer) else ssh,
        }
        settings = AgentSettings(**(options | overrides))
        server_tools = (
            ServerTools(SSHConnection(settings.ssh), restart_min_interval_s=0)
            if settings.ssh is not None
            else None
        )
        service = AgentService(
            settings, registry=registry or ToolRegistry(), server_tools=server_tools
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(create_app(service), log_level="warning", access_log=False)
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="agent-uvicorn", daemon=True
        )
        thread.start()
        wait_until(lambda: server.started, timeout_s=10, what="agent service started")
        url = f"http://127.0.0.1:{port}"
        agent = AgentServer(url, service, httpx.Client(base_url=url, timeout=30))
        started.append((server, thread, agent))
        return agent

    yield start
    for server, thread, agent in started:
        agent.http.close()
        server.should_exit = True
        thread.join(timeout=10)
        agent.service.close(wait=True)
