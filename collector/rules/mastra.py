"""Mastra through its OpenTelemetry exporter: GenAI spans (``invoke_agent``, ``chat``,
``execute_tool``) the conventions read, inside ``model_generation`` / ``agent_step`` /
``model_chunk`` spans that are none of them. Its run span holds the task and the answer in
keys of its own, and a model call whose request failed ends OK with the finish reason
``error``: its error is the run's. A run aborted (its ``abortSignal``) while a tool runs ends
OK with its input and **no output**, where a finished run records its output and a failed
one is ERROR: it was cancelled, and has no answer. A tool call whose input failed the tool's
schema ends OK with Mastra's ``Tool input validation failed`` object as its result: it was
not run, a failed step. See tests/frameworks/SPANS.md."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import mastra as MA
from collector.decode import SpanRecord
from collector.messages import loads, turn_user_text
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "run_fields",
    "run_status",
    "derive_run_fields",
    "derive_step_fields",
]

SCOPES = frozenset({MA.SCOPE})
_STATUS_ERROR = 2
_HOPS = 8


def run_fields(span: SpanRecord) -> dict[str, Any]:
    attrs = span.attributes
    fields: dict[str, Any] = {}
    given = attrs.get(MA.RUN_INPUT)
    parsed = loads(given)
    if isinstance(parsed, list):
        task = turn_user_text(parsed)
    elif isinstance(parsed, str):
        task = parsed
    else:
        task = given if isinstance(given, str) and not isinstance(parsed, (dict, list)) else None
    if task:
        fields["task"] = task
    output = loads(attrs.get(MA.RUN_OUTPUT))
    if span.status_code != _STATUS_ERROR and isinstance(output, Mapping):
        if isinstance(output.get("object"), (dict, list)):
            fields["final_answer"] = json.dumps(output["object"], ensure_ascii=False)
        elif isinstance(output.get("text"), str):
            fields["final_answer"] = output["text"]
    if span.status_code == _STATUS_ERROR and attrs.get(MA.ERROR_MESSAGE):
        fields["error"] = str(attrs[MA.ERROR_MESSAGE])
    return fields


def _cut_off(span: SpanRecord) -> bool:
    """An agent run that recorded its input and ended neither failed nor with its output."""
    attrs = span.attributes
    return (
        span.status_code != _STATUS_ERROR
        and attrs.get(G.GEN_AI_OPERATION_NAME) == A.OP_INVOKE_AGENT
        and MA.RUN_INPUT in attrs
        and MA.RUN_OUTPUT not in attrs
    )


def run_status(span: SpanRecord) -> str | None:
    return RunStatus.CANCELLED if _cut_off(span) else None


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """An aborted run has no answer (its last model call asked for a tool)."""
    return {"final_answer": None} if _cut_off(run_span) else {}


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A failed model call's error: that of the agent run it was made in. A tool call
    Mastra refused (its input failed the tool's schema) is failed with Mastra's message."""
    refused = _refused_input(span)
    if refused is not None:
        return {"error": refused}
    if not _failed_call(span):
        return {}
    current = span
    for _ in range(_HOPS):
        parent = trace_spans.get(current.parent_span_id or "")
        if parent is None:
            return {}
        if parent.attributes.get(G.GEN_AI_OPERATION_NAME) == A.OP_INVOKE_AGENT:
            message = parent.attributes.get(MA.ERROR_MESSAGE) or parent.status_message
            return {"error": str(message)} if message else {}
        current = parent
    return {}


# Mastra does not run a tool whose input fails its schema: the tool span ends OK with
# ``{"error": true, "message": "Tool input validation failed for {tool}. ..."}`` as its
# result, which the model is handed.
_VALIDATION_FAILED = "Tool input validation failed for "


def _refused_input(span: SpanRecord) -> str | None:
    if span.attributes.get(G.GEN_AI_OPERATION_NAME) != A.OP_EXECUTE_TOOL:
        return None
    result = loads(span.attributes.get(A.GEN_AI_TOOL_CALL_RESULT))
    if not isinstance(result, Mapping) or result.get("error") is not True:
        return None
    message = result.get("message")
    if isinstance(message, str) and message.startswith(_VALIDATION_FAILED):
        return message
    return None


def _failed_call(span: SpanRecord) -> bool:
    if span.attributes.get(G.GEN_AI_OPERATION_NAME) not in A.LLM_OPERATIONS:
        return False
    reasons = loads(span.attributes.get(A.GEN_AI_RESPONSE_FINISH_REASONS))
    return span.status_code == _STATUS_ERROR or (
        isinstance(reasons, list) and MA.FAILED_FINISH in reasons
    )
