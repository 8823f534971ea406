"""The tools one agent run may call: the SSH docker tools and the Python-registered ones.

Every call is a ``tool_call`` step of the run, whatever happens: an unknown tool,
arguments that are not a JSON object or do not fit the schema, and a tool that
raises all come back as the tool's result text (``error: ...``) for the model to
read, and the step is marked failed. Nothing here raises into the loop except
:class:`~instrumentation.RunCancelled`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from agent.errors import ToolRegistrationError
from agent.registry import ToolRegistry, ToolSpec
from agent.tool_schema import check_arguments
from instrumentation import RunCancelled, RunHandle
from instrumentation.encoding import clean_text
from ssh_tools.definitions import TOOL_NAMES as SSH_TOOL_NAMES
from ssh_tools.tools import ServerTools

__all__ = ["Toolbox", "cut_for_model"]

logger = logging.getLogger(__name__)

_MAX_NAME_CHARS = 200  # a model may invent any name; keep the record bounded


class Toolbox:
    """Routes a model's tool call to the SSH tools or a registered Python tool."""

    def __init__(
        self,
        *,
        registry: ToolRegistry | None = None,
        server_tools: ServerTools | None = None,
        max_result_chars: int = 16_000,
    ) -> None:
        self._registry = registry or ToolRegistry()
        self._server_tools = server_tools
        self._max_result_chars = max_result_chars
        if server_tools is not None:
            clashes = sorted(set(self._registry.names()) & set(SSH_TOOL_NAMES))
            if clashes:
                raise ToolRegistrationError(
                    f"registered tool(s) {clashes} clash with the SSH tools of the same name"
                )

    @property
    def server_tools(self) -> ServerTools | None:
        """The SSH tools, when an SSH host is configured."""
        return self._server_tools

    def names(self) -> list[str]:
        """Every tool name the model is offered."""
        ssh = list(SSH_TOOL_NAMES) if self._server_tools is not None else []
        return ssh + [name for name in self._registry.names() if name not in ssh]

    def definitions(self) -> list[dict[str, Any]]:
        """The OpenAI ``tools`` list."""
        definitions = self._server_tools.openai_tools() if self._server_tools is not None else []
        taken = {entry["function"]["name"] for entry in definitions}
        definitions += [
            spec.definition() for spec in self._registry.specs() if spec.name not in taken
        ]
        return definitions

    def call(
        self, run: RunHandle, name: str, arguments: str | None, *, call_id: str | None = None
    ) -> str:
        """Run one tool call as a step of ``run``; the text to hand back to the model."""
        if self._server_tools is not None and name in SSH_TOOL_NAMES:
            # ServerTools records its own step (ssh.* attributes, decision, argv).
            text = self._server_tools.call_tool(name, arguments or "{}", tool_call_id=call_id)
            return cut_for_model(text, self._max_result_chars)
        spec = self._registry.get(name)
        if spec is None:
            shown = str(name)[:_MAX_NAME_CHARS] or "<empty>"
            available = ", ".join(self.names()) or "none"
            return self.record_refusal(
                run,
                shown,
                arguments,
                call_id,
                f"unknown tool {shown!r}; available tools: {available}",
            )
        try:
            parsed = json.loads(arguments) if arguments else {}
        except ValueError as exc:
            return self.record_refusal(
                run, name, arguments, call_id, f"arguments are not valid JSON: {exc}"
            )
        except RecursionError:  # JSON nested past what the parser follows
            return self.record_refusal(
                run, name, arguments, call_id, "arguments are nested too deeply to read"
            )
        if not isinstance(parsed, dict):
            return self.record_refusal(
                run, name, arguments, call_id, "arguments must be a JSON object"
            )
        problem = check_arguments(spec.parameters, parsed)
        if problem is not None:
            return self.record_refusal(run, name, parsed, call_id, f"{name}: {problem}")
        return self._invoke(run, spec, parsed, call_id)

    def _invoke(
        self, run: RunHandle, spec: ToolSpec, arguments: dict[str, Any], call_id: str | None
    ) -> str:
        with run.step(
            "tool_call", tool_name=spec.name, tool_args=arguments, tool_call_id=call_id
        ) as step:
            try:
                text = spec.invoke(arguments)
            except RunCancelled:
                raise
            except Exception as exc:  # the model gets the failure as text, never a crash
                logger.info("tool %s raised %s: %s", spec.name, type(exc).__name__, exc)
                text = f"error: {type(exc).__name__}: {exc}"
                step.set_error(exc)
            step.set_result(text)
        return cut_for_model(text, self._max_result_chars)

    def record_refusal(
        self, run: RunHandle, name: str, arguments: Any, call_id: str | None, reason: str
    ) -> str:
        """Record a tool call that is not run as a failed step; the text for the model."""
        text = f"error: {reason}"
        with run.step(
            "tool_call", tool_name=name, tool_args=arguments, tool_call_id=call_id
        ) as step:
            step.set_error(reason)
            step.set_result(text)
        return cut_for_model(text, self._max_result_chars)


def cut_for_model(text: str, max_chars: int) -> str:
    """``text`` shortened to ``max_chars`` (head and tail kept) so it fits the model's context.

    Lone surrogates (a tool's careless text) are replaced: the request to the model
    server could not be encoded with them, and the run would fail.
    """
    text = clean_text(text)
    if len(text) <= max_chars:
        return text
    keep_head = max_chars * 3 // 4
    keep_tail = max_chars - keep_head
    dropped = len(text) - keep_head - keep_tail
    return (
        f"{text[:keep_head]}\n[... {dropped} characters cut; the full output is in the audit "
        f"trail ...]\n{text[len(text) - keep_tail :]}"
    )
