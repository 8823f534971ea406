"""Exceptions of the agent service.

::

    AgentError
     ├── SettingsError        a bad AGENT_AUDIT_* value (names the variable); also a ValueError
     ├── ToolRegistrationError a tool that cannot be offered to the model; also a ValueError
     └── ModelServerError     the model server is unreachable, timed out or answered an error

A tool that fails, is unknown or gets bad arguments is not an exception: the
error text is the tool's result, handed back to the model.
"""

from __future__ import annotations

__all__ = ["AgentError", "ModelServerError", "NoAnswer", "SettingsError", "ToolRegistrationError"]


class AgentError(Exception):
    """Root of the agent service's exceptions."""


class SettingsError(AgentError, ValueError):
    """A setting has a bad value; ``variable`` names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem}")
        self.variable = variable
        self.problem = problem


class ToolRegistrationError(AgentError, ValueError):
    """A function cannot be registered as a tool (bad name, duplicate, unsupported signature)."""


class ModelServerError(AgentError):
    """The OpenAI-compatible model server could not serve a chat completion.

    ``base_url`` is the server asked, ``status_code`` the HTTP status when it answered.
    """

    def __init__(self, message: str, *, base_url: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.base_url = base_url
        self.status_code = status_code


class NoAnswer(AgentError):
    """The model's turn held neither text nor a tool call: a refusal, a filter, nothing."""
