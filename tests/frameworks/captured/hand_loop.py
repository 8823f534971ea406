"""The shared agent as a loop written by hand around any LLM client, inside a span of the
program's own (``weather_loop``), as scripts using a bare client do; the client's
instrumentation traces the model calls and the tools run untraced. No framework imported:
each capture script hands in how its client asks the model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from opentelemetry.trace import TracerProvider

from tests.frameworks.captured import agent_scenario as S

TOOL_SCHEMAS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": getattr(S.Tools, name).__doc__,
            "parameters": {"type": "object", "properties": {}},
        },
    }
    for name in ("get_weather", "to_fahrenheit")
]


class Reply(NamedTuple):
    """What one model call answered: its text and the tool calls as (id, name, arguments);
    ``message`` is the assistant message to send back as the conversation goes on, or the
    items to send back (the Responses API's output items)."""

    text: str | None
    calls: list[tuple[str, str, dict[str, Any]]]
    message: dict[str, Any] | list[dict[str, Any]]


# Given the conversation so far, ask the model once.
Ask = Callable[[list[dict[str, Any]]], Reply]
# The tool message answering one call: (call id, tool name, result text).
ToolMessage = Callable[[str, str, str], dict[str, Any]]


def openai_tool_message(call_id: str, name: str, result: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": result}


def run(
    provider: TracerProvider,
    ask: Ask,
    task: str,
    tool_message: ToolMessage = openai_tool_message,
) -> dict[str, Any]:
    """One conversation in the program's span: what the loop returned, or what it raised
    (a failure leaves the span as it leaves the script: the span fails)."""
    calls: list[dict[str, Any]] = []
    tracer = provider.get_tracer("weather_script")
    try:
        with tracer.start_as_current_span("weather_loop"):
            return {"task": task, "answer": _loop(ask, task, calls, tool_message), "tools": calls}
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "raised": f"{type(exc).__name__}: {exc}", "tools": calls}


def run_without_span(
    ask: Ask, task: str, tool_message: ToolMessage = openai_tool_message
) -> dict[str, Any]:
    """The same conversation with no span of the program's around it: each model call is a
    trace of its own."""
    calls: list[dict[str, Any]] = []
    return {"task": task, "answer": _loop(ask, task, calls, tool_message), "tools": calls}


def _loop(
    ask: Ask, task: str, calls: list[dict[str, Any]], tool_message: ToolMessage
) -> str | None:
    tools = S.Tools()
    messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
    for _ in range(6):
        reply = ask(messages)
        if not reply.calls:
            return reply.text
        messages.extend(reply.message if isinstance(reply.message, list) else [reply.message])
        for call_id, name, args in reply.calls:
            try:
                result, failed = json.dumps(getattr(tools, name)(**args)), False
            except Exception as exc:  # noqa: BLE001 - the model is told, as scripts do
                result, failed = f"error: {exc}", True
            calls.append({"name": name, "args": args, "result": result, "error": failed})
            messages.append(tool_message(call_id, name, result))
    return None
