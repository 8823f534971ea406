"""agent-audit's reference agent: an OpenAI-compatible tool-calling loop behind ``POST /agent/run``.

Every run is traced with :mod:`instrumentation`: the run, each model call (a
``think`` step with tokens), each tool call (the SSH docker tools when
``AGENT_AUDIT_SSH_HOST`` is set, plus tools registered in Python) and the answer.

::

    from agent import register_tool

    @register_tool
    def disk_free(path: str = "/") -> str:
        \"\"\"Free space on the file system holding ``path``.\"\"\"
        ...

Then ``agent-audit agent --tools-module mytools`` serves the agent with that tool.
"""

from __future__ import annotations

from agent.errors import AgentError, ModelServerError, SettingsError, ToolRegistrationError
from agent.registry import ToolRegistry, ToolSpec, default_registry, register_tool

__all__ = [
    "AgentError",
    "ModelServerError",
    "SettingsError",
    "ToolRegistrationError",
    "ToolRegistry",
    "ToolSpec",
    "default_registry",
    "register_tool",
]
