"""pydantic-ai's own spans: a run stopped by its request or tool-call limit
(``UsageLimits``) reached its step limit, it did not fail; a run given a conversation's
history (``message_history``) has it at the start of its messages, before
``pydantic_ai.new_message_index``: its task is the first user message from there. A
cancelled run (``asyncio`` cancellation) ends with no error and no ``final_result``, its
last ``chat`` span without a response. Under instrumentation version 2 a tool span is
``running tool``, its call in ``tool_arguments`` / ``tool_response``; pydantic-ai 1.0's
run span has no operation name (version 1: its messages as GenAI events)."""

from __future__ import annotations

from typing import Any

from collector.conventions import genai as G
from collector.conventions import pydantic_ai as PAI
from collector.decode import SpanRecord
from collector.messages import first_user_text, loads
from collector.rules.common import CANCELLED_STEP_ERROR, ended_unanswered, exception, unanswered
from collector.rules.refused_calls import refused_genai_calls
from collector.told_calls import ToldCall
from instrumentation import attributes as A
from instrumentation.attributes import LLM_OPERATIONS, RunStatus

__all__ = ["SCOPES", "span_class", "run_status", "run_fields", "step_fields", "derive_run_fields"]

SCOPES = frozenset({PAI.SCOPE})


def span_class(span: SpanRecord) -> str | None:
    """pydantic-ai 1.0's run span (no operation name) is the run; its tool-round wrapper is
    no step."""
    if span.name == PAI.V2_TOOLS_SPAN:
        return "other"
    attrs = span.attributes
    if G.GEN_AI_OPERATION_NAME not in attrs and (
        PAI.ALL_MESSAGES in attrs or PAI.V1_ALL_MESSAGES_EVENTS in attrs
    ):
        return "run"
    return None


def _v1_task(span: SpanRecord) -> str | None:
    """The first user message of version 1's message events."""
    events = loads(span.attributes.get(PAI.V1_ALL_MESSAGES_EVENTS))
    for event in events if isinstance(events, list) else ():
        if isinstance(event, dict) and event.get(PAI.V1_EVENT_NAME) == G.EVENT_USER_MESSAGE:
            content = event.get("content")
            if isinstance(content, str) and content:
                return content
    return None


def run_status(span: SpanRecord) -> str | None:
    found = exception(span)
    if found is None or found[0].rsplit(".", 1)[-1] != PAI.USAGE_LIMIT_ERROR:
        return None
    return RunStatus.MAX_STEPS if any(limit in found[1] for limit in PAI.STEP_LIMITS) else None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    # The run's tokens are its model calls' (1.0's run span repeats their sum as gen_ai.usage).
    fields: dict[str, Any] = {"input_tokens": None, "output_tokens": None}
    start = span.attributes.get(PAI.NEW_MESSAGE_INDEX)
    messages = loads(span.attributes.get(PAI.ALL_MESSAGES))
    task = _v1_task(span) if messages is None else None
    if task:
        return {**fields, "task": task}
    if not isinstance(start, int) or isinstance(start, bool) or not isinstance(messages, list):
        return fields
    task = first_user_text(messages[start:]) if 0 <= start < len(messages) else None
    return {**fields, "task": task} if task else fields


# Set on a ``chat`` span once its response arrived (a cancelled call ends without any).
_ANSWERED = (
    G.GEN_AI_OUTPUT_MESSAGES,
    G.GEN_AI_RESPONSE_MODEL,
    A.GEN_AI_USAGE_INPUT_TOKENS,
    A.GEN_AI_USAGE_OUTPUT_TOKENS,
    A.GEN_AI_RESPONSE_FINISH_REASONS,
)


def _is_call(span: SpanRecord) -> bool:
    return span.attributes.get(G.GEN_AI_OPERATION_NAME) in LLM_OPERATIONS


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind == "think" and _is_call(span) and unanswered(span, _ANSWERED):
        return {"error": CANCELLED_STEP_ERROR}
    if kind == "tool_call":
        return _tool_fields(span)
    return {}


def _tool_fields(span: SpanRecord) -> dict[str, Any]:
    """The tool's name, arguments and result where the span's name and GenAI keys lack them."""
    attrs = span.attributes
    fields: dict[str, Any] = {}
    name = attrs.get(A.GEN_AI_TOOL_NAME)
    if isinstance(name, str) and name:
        fields["tool_name"] = name
    if attrs.get(A.GEN_AI_TOOL_CALL_ARGUMENTS) is None:
        args = loads(attrs.get(PAI.V2_TOOL_ARGUMENTS))
        if args is not None:
            fields["tool_args"] = args
    response = attrs.get(PAI.V2_TOOL_RESPONSE)
    if attrs.get(A.GEN_AI_TOOL_CALL_RESULT) is None and response is not None:
        fields["tool_result"] = response
    found = exception(span)
    if found is not None and not found[1].strip() and isinstance(response, str) and response:
        # 1.0's ToolRetryError has no message: what the model was told is the error.
        fields["error"] = f"{found[0].rsplit('.', 1)[-1]}: {response}"
    return fields


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    if PAI.FINAL_RESULT in run_span.attributes:
        return {}
    calls = [s for s in own if _is_call(s)]
    if ended_unanswered(run_span, calls, _ANSWERED):
        return {"status": RunStatus.CANCELLED}
    return {}


def tool_calls_told(span: SpanRecord) -> list[ToldCall]:
    """Calls of a tool the agent does not have: pydantic-ai runs no tool span for them and
    answers "Unknown tool name: ..." in the next request (collector/rules/refused_calls.py)."""
    if not _is_call(span):
        return []
    return refused_genai_calls(span, PAI.UNKNOWN_TOOL)
