"""The Vercel AI SDK (``ai`` on npm) with ``experimental_telemetry``: a ``generateText`` /
``streamText`` (or ``...Object``) call is the run, its ``.doGenerate`` / ``.doStream``
spans the model calls, ``ai.toolCall`` spans the tools it ran. A call made inside a tool
is a sub-agent: its own run below the tool. A call the SDK refused before running a tool
(a wrong argument, an unknown tool) is read from the next model call's messages. See
tests/frameworks/SPANS.md.

Matched by ``ai.operationId`` whatever the tracer's name (a caller may pass its own)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.conventions import ai_sdk as AI
from collector.decode import SpanRecord
from collector.messages import as_text, loads, turn_user_text
from collector.told_calls import ToldCall

__all__ = ["SCOPES", "matches", "span_class", "run_fields", "step_fields", "tool_calls_told"]

# The SDK's messages for a call it refused before running any tool (``InvalidToolInputError``,
# ``NoSuchToolError``), handed the model as the call's ``error-text`` result.
_REFUSED = re.compile(r"^(Invalid input for tool |Model tried to call unavailable tool )")

SCOPES = frozenset({AI.SCOPE})


def matches(span: SpanRecord) -> bool:
    """Whether the span is the SDK's, whatever its scope."""
    return isinstance(span.attributes.get(AI.OPERATION_ID), str)


def span_class(span: SpanRecord) -> str | None:
    operation = span.attributes.get(AI.OPERATION_ID)
    if not isinstance(operation, str):
        return None
    if operation in AI.RUN_OPERATIONS:
        return "run"
    if operation.endswith(AI.MODEL_CALL_SUFFIXES):
        return "think"
    if operation == AI.TOOL_CALL:
        return "tool_call"
    return "other"  # embed, embedMany, rerank: no agent's step


def run_fields(span: SpanRecord) -> dict[str, Any]:
    attrs = span.attributes
    # The call's usage is the sum of its model calls': the run's tokens are summed from them.
    fields: dict[str, Any] = {"input_tokens": None, "output_tokens": None}
    task = _task(attrs.get(AI.PROMPT))
    if task:
        fields["task"] = task
    if span.status_code != 2:
        if AI.RESPONSE_TEXT in attrs:
            fields["final_answer"] = as_text(attrs[AI.RESPONSE_TEXT])
        elif AI.RESPONSE_OBJECT in attrs:
            fields["final_answer"] = as_text(attrs[AI.RESPONSE_OBJECT])
    for field, key in (
        ("agent_name", AI.FUNCTION_ID),
        ("model_requested", AI.MODEL_ID),
        ("provider", AI.MODEL_PROVIDER),
    ):
        value = attrs.get(key)
        if value:
            fields[field] = str(value)
    return fields


def _task(prompt: Any) -> str | None:
    """``ai.prompt``: the request as text, or the turn's user message of its messages."""
    parsed = loads(prompt)
    if not isinstance(parsed, dict):
        return None
    if isinstance(parsed.get("prompt"), str):
        return str(parsed["prompt"])
    messages = parsed.get("messages") or parsed.get("prompt")
    return turn_user_text(messages) if isinstance(messages, list) else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    attrs = span.attributes
    if kind == "tool_call":
        fields: dict[str, Any] = {}
        if attrs.get(AI.TOOL_CALL_NAME):
            fields["tool_name"] = str(attrs[AI.TOOL_CALL_NAME])
        if AI.TOOL_CALL_ARGS in attrs:
            fields["tool_args"] = loads(attrs[AI.TOOL_CALL_ARGS])
        if AI.TOOL_CALL_RESULT in attrs:
            fields["tool_result"] = _tool_result(attrs[AI.TOOL_CALL_RESULT])
        return fields
    model = attrs.get(AI.MODEL_ID)
    return {"model": str(model)} if model else {}


def _tool_result(recorded: Any) -> str:
    """The tool's output: the SDK records ``JSON.stringify(output)``, so a tool that returned
    text is that text, unquoted; any other output stays JSON."""
    if isinstance(recorded, str) and recorded.startswith('"'):
        parsed = loads(recorded)
        if isinstance(parsed, str):
            return parsed
    return as_text(recorded)


def tool_calls_told(span: SpanRecord) -> list[ToldCall]:
    """Calls the SDK refused (a wrong argument, a tool the agent does not have): no
    ``ai.toolCall`` span runs, and the next model call is sent the SDK's error as the call's
    result, after the assistant message that asked. Read from that call's messages."""
    if span_class(span) != "think":
        return []
    messages = loads(span.attributes.get(AI.PROMPT_MESSAGES))
    if not isinstance(messages, list):
        return []
    ordered = [m for m in messages if isinstance(m, Mapping)]
    last = max((i for i, m in enumerate(ordered) if m.get("role") == "assistant"), default=-1)
    if last < 0:
        return []
    asked = {
        str(part.get("toolCallId")): part
        for part in _parts(ordered[last])
        if part.get("type") == "tool-call"
    }
    calls = []
    for message in ordered[last + 1 :]:
        for part in _parts(message) if message.get("role") == "tool" else []:
            output = part.get("output")
            text = output.get("value") if isinstance(output, Mapping) else None
            if output is None or output.get("type") != "error-text" or not isinstance(text, str):
                continue
            if _REFUSED.match(text) is None:
                continue
            call_id = str(part.get("toolCallId") or "") or None
            arguments = asked.get(call_id or "", {}).get("input")
            calls.append(
                ToldCall(
                    name=str(part.get("toolName") or "tool"),
                    arguments=arguments if isinstance(arguments, Mapping) else {},
                    call_id=call_id,
                    result=None,
                    error=text,
                    before_ns=span.start_ns,
                )
            )
    return calls


def _parts(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    parts = message.get("content")
    return [p for p in parts if isinstance(p, Mapping)] if isinstance(parts, list) else []
