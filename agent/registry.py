"""Tools written in Python, offered to the model next to the SSH tools.

::

    from agent import register_tool

    @register_tool
    def disk_free(path: str = "/") -> str:
        \"\"\"Free space on a mounted file system.

        Args:
            path: a directory on the file system
        \"\"\"
        ...

The JSON schema comes from the signature (see :mod:`agent.tool_schema`) unless
``schema=`` gives one; the description from the docstring's first paragraph.
``agent-audit agent`` imports the modules named in ``AGENT_AUDIT_AGENT_TOOL_MODULES``
(or ``--tools-module``) at start, so their ``register_tool`` calls take effect.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from agent.errors import ToolRegistrationError
from agent.tool_schema import describe_function, schema_from_signature

__all__ = ["ToolRegistry", "ToolSpec", "default_registry", "register_tool"]

F = TypeVar("F", bound=Callable[..., Any])

# OpenAI's rule for function names.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolSpec:
    """One registered tool: what the model is told, and the function that runs it."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]

    def definition(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def invoke(self, arguments: Mapping[str, Any]) -> str:
        """Run the function with keyword ``arguments``; its result as text (JSON unless a str)."""
        result = self.function(**arguments)
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
        if isinstance(result, str):
            return result
        try:
            return json.dumps(result, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            return str(result)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class ToolRegistry:
    """Tools by name; safe to register from any thread."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}
        self._lock = threading.Lock()

    def register(
        self,
        function: Callable[..., Any],
        schema: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        replace: bool = False,
    ) -> ToolSpec:
        """Add ``function`` as a tool; raises :class:`ToolRegistrationError` if it cannot be."""
        if not callable(function):
            raise ToolRegistrationError(f"{function!r} is not callable")
        tool_name = str(name or getattr(function, "__name__", ""))
        if not _NAME.match(tool_name):
            raise ToolRegistrationError(
                f"tool name {tool_name!r} must be 1-64 letters, digits, '_' or '-'"
            )
        summary, _ = describe_function(function)
        text = description if description is not None else summary
        if not text:
            raise ToolRegistrationError(
                f"tool {tool_name!r} needs a description: a docstring or description="
            )
        if schema is None:
            parameters = schema_from_signature(function)
        else:
            if not isinstance(schema, Mapping) or schema.get("type") != "object":
                raise ToolRegistrationError(
                    f"tool {tool_name!r}: schema must be a JSON schema with type 'object'"
                )
            parameters = json.loads(json.dumps(schema))  # a private, JSON-clean copy
        spec = ToolSpec(tool_name, text, parameters, function)
        with self._lock:
            if tool_name in self._tools and not replace:
                raise ToolRegistrationError(f"a tool named {tool_name!r} is registered already")
            self._tools[tool_name] = spec
        return spec

    def unregister(self, name: str) -> None:
        """Remove a tool; unknown names are ignored."""
        with self._lock:
            self._tools.pop(name, None)

    def get(self, name: str) -> ToolSpec | None:
        """The tool called ``name``, if registered."""
        with self._lock:
            return self._tools.get(name)

    def names(self) -> list[str]:
        """Registered tool names, in registration order."""
        with self._lock:
            return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        """Registered tools, in registration order."""
        with self._lock:
            return list(self._tools.values())


default_registry = ToolRegistry()
"""The registry ``register_tool`` adds to and ``agent-audit agent`` offers."""


@overload
def register_tool(function: F, /, schema: Mapping[str, Any] | None = None) -> F: ...


@overload
def register_tool(
    function: None = None,
    /,
    schema: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Callable[[F], F]: ...


def register_tool(
    function: Any = None,
    /,
    schema: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """Offer ``function`` to the agent's model as a tool; returns the function unchanged.

    Usable as ``register_tool(fn)``, ``register_tool(fn, schema)``, ``@register_tool``
    or ``@register_tool(name=..., description=...)``.
    """

    def decorate(target: F) -> F:
        default_registry.register(target, schema, name=name, description=description)
        return target

    if function is None:
        return decorate
    return decorate(function)
