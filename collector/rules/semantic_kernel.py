"""Semantic Kernel (native OTel GenAI spans, ``SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_
DIAGNOSTICS``): its model calls name their finish reason in a key of their own; an agent that
another agent calls as a plugin records no input, and works on what the plugin call was given.
A run cancelled (or Ctrl-C) while it runs ends its ``invoke_agent`` span, and the function
it was in, with no status and without the output (result) every other ending records:
cancelled. A run whose last model call asked for functions that never ran stopped at the
auto-invocation limit (``maximum_auto_invoke_attempts``, 5 by default): ``max_steps``.
The rest is read by the conventions. See tests/frameworks/SPANS.md."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import semantic_kernel as SK
from collector.decode import SpanRecord
from collector.messages import loads, turn_user_text
from collector.rules.common import (
    CANCELLED_STEP_ERROR,
    cut_off_genai_run,
    cut_off_genai_tool,
    ended_asking_for_tools,
)
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "run_status",
    "step_fields",
    "derive_run_fields",
    "derive_run_fields_in_trace",
]

SCOPES = frozenset({SK.MODEL_CALL_SCOPE, SK.AGENT_SCOPE, SK.FUNCTION_SCOPE})


def run_status(span: SpanRecord) -> str | None:
    return RunStatus.CANCELLED if cut_off_genai_run(span) else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind == "tool_call":
        return {"error": CANCELLED_STEP_ERROR} if cut_off_genai_tool(span) else {}
    reason = span.attributes.get(SK.FINISH_REASON)
    if kind != "think" or not isinstance(reason, str) or not reason:
        return {}
    return {"finish_reasons": json.dumps([reason.removeprefix(SK.FINISH_REASON_ENUM).lower()])}


def _asked_tools(span: SpanRecord) -> bool:
    return span.attributes.get(SK.FINISH_REASON) == f"{SK.FINISH_REASON_ENUM}TOOL_CALLS"


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """A run that ended on a model call asking for functions it never ran: the limit."""
    if run_span.scope_name != SK.AGENT_SCOPE or run_span.status_code == 2:
        return {}
    if cut_off_genai_run(run_span):
        return {}
    is_call = lambda s: s.scope_name == SK.MODEL_CALL_SCOPE  # noqa: E731 - one use
    if ended_asking_for_tools(own, is_call, _asked_tools):
        return {"status": RunStatus.MAX_STEPS}
    return {}


def derive_run_fields_in_trace(
    run_span: SpanRecord, own: list[SpanRecord], trace_spans: list[SpanRecord]
) -> dict[str, Any]:
    """An agent used as another's plugin runs inside that plugin call's ``execute_tool
    {plugin}-{agent}`` span, handed the ``messages`` the model gave the call by keyword, so its
    own span records none: its task is the first of them."""
    if run_span.scope_name != SK.AGENT_SCOPE or turn_user_text(
        run_span.attributes.get(G.GEN_AI_INPUT_MESSAGES)
    ):
        return {}
    agent = run_span.attributes.get(A.GEN_AI_AGENT_NAME)
    call = next((s for s in trace_spans if s.span_id == run_span.parent_span_id), None)
    if call is None or not isinstance(agent, str) or not agent:
        return {}
    tool = call.attributes.get(A.GEN_AI_TOOL_NAME)
    if not isinstance(tool, str) or not (tool == agent or tool.endswith(f"-{agent}")):
        return {}
    arguments = loads(call.attributes.get(A.GEN_AI_TOOL_CALL_ARGUMENTS))
    given = arguments.get(SK.AGENT_AS_PLUGIN_MESSAGES) if isinstance(arguments, Mapping) else None
    messages = [given] if isinstance(given, str) else given if isinstance(given, list) else []
    task = next((m for m in messages if isinstance(m, str) and m), None)
    return {"task": task} if task else {}
