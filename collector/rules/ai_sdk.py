"""The Vercel AI SDK (``ai`` on npm) with ``experimental_telemetry``: a ``generateText`` /
``streamText`` (or ``...Object``) call is the run, its ``.doGenerate`` / ``.doStream``
spans the model calls, ``ai.toolCall`` spans the tools it ran. A call made inside a tool
is a sub-agent: its own run below the tool. See tests/frameworks/SPANS.md.

Matched by ``ai.operationId`` whatever the tracer's name (a caller may pass its own)."""

from __future__ import annotations

from typing import Any

from collector.conventions import ai_sdk as AI
from collector.decode import SpanRecord
from collector.messages import as_text, loads, turn_user_text

__all__ = ["SCOPES", "matches", "span_class", "run_fields", "step_fields"]

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
