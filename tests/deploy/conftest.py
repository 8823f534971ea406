"""Fixtures of the deployment tests: the agent-side ones are shared with tests/agent."""

from __future__ import annotations

from tests.agent.conftest import llm, start_agent, tracing  # noqa: F401 - the fixtures, shared
from tests.deploy.chat import chat_webhook  # noqa: F401
from tests.deploy.n8n_shared import n8n, shared_n8n  # noqa: F401
from tests.ssh.conftest import sshd  # noqa: F401
