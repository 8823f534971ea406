"""Microsoft Agent Framework (its own GenAI spans, sensitive data on): the conventions read
its runs and steps; this module reads a run cancelled (or Ctrl-C) while it runs, which ends
its ``invoke_agent`` span and the tool it was in with no status and without the output
(result) every other ending records; and a run stopped at its ``max_iterations`` (40 model
calls by default), which answers with a text of the framework's own after a last model
call whose tools never ran: ``max_steps``; the result a raised tool was told, from its own
part of the next call's tool message; and the calls it refused before running a tool, from
that message too. See tests/frameworks/SPANS.md."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.conventions import agent_framework as MAF
from collector.conventions import genai as G
from collector.decode import SpanRecord
from collector.event_messages import tool_call_result
from collector.messages import loads
from collector.rules.common import (
    CANCELLED_STEP_ERROR,
    cut_off_genai_run,
    cut_off_genai_tool,
    ended_asking_for_tools,
)
from collector.rules.refused_calls import refused_genai_calls
from collector.told_calls import ToldCall
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "run_status",
    "step_fields",
    "derive_run_fields",
    "derive_step_fields",
    "tool_calls_told",
]

SCOPES = frozenset({MAF.SCOPE})
# What the framework answers the model, with no tool span, for a call whose arguments do not
# fit the tool and for a tool the agent does not have.
_REFUSED = re.compile(
    r'^Error: (?:Argument parsing failed\.|Requested function "([^"]+)" not found\.)'
)


def run_status(span: SpanRecord) -> str | None:
    return RunStatus.CANCELLED if cut_off_genai_run(span) else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind == "tool_call" and cut_off_genai_tool(span):
        return {"error": CANCELLED_STEP_ERROR}
    return {}


def _is_call(span: SpanRecord) -> bool:
    return span.attributes.get(A.GEN_AI_OPERATION_NAME) == "chat"


def _asked_tools(span: SpanRecord) -> bool:
    reasons = loads(span.attributes.get(A.GEN_AI_RESPONSE_FINISH_REASONS))
    return isinstance(reasons, list) and "tool_calls" in reasons


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """A run that answered after a last model call whose tools never ran: the limit."""
    if run_span.status_code == 2 or cut_off_genai_run(run_span):
        return {}
    if ended_asking_for_tools(own, _is_call, _asked_tools):
        return {"status": RunStatus.MAX_STEPS}
    return {}


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A tool that raised: the text the next model calls were sent under its call id."""
    attrs = span.attributes
    call_id = attrs.get(A.GEN_AI_TOOL_CALL_ID)
    if span.status_code != 2 or A.GEN_AI_TOOL_CALL_RESULT in attrs or not call_id:
        return {}
    later = sorted(
        (s for s in trace_spans.values() if _is_call(s) and s.start_ns >= span.end_ns),
        key=lambda s: (s.start_ns, s.span_id),
    )
    # The next calls; each holds it all. A turn's results share one tool message, a part
    # each: the part of this call's id, not the message's text.
    told = _told_part(str(call_id), later[:4])
    if told is None:
        told = tool_call_result(str(call_id), later[:4])
    return {"tool_result": told} if told is not None else {}


def _told_part(call_id: str, model_calls: list[SpanRecord]) -> str | None:
    """The ``tool_call_response`` part of ``call_id`` a later call's messages hold."""
    for call in model_calls:
        messages = loads(call.attributes.get(G.GEN_AI_INPUT_MESSAGES))
        for message in messages if isinstance(messages, list) else []:
            parts = message.get("parts") if isinstance(message, Mapping) else None
            for part in parts if isinstance(parts, list) else []:
                if (
                    isinstance(part, Mapping)
                    and part.get("type") == "tool_call_response"
                    and part.get("id") == call_id
                    and part.get("response") is not None
                ):
                    response = part["response"]
                    return response if isinstance(response, str) else str(response)
    return None


def tool_calls_told(span: SpanRecord) -> list[ToldCall]:
    """Calls the framework refused before running a tool (arguments that do not parse into
    the tool's, a tool the agent does not have): told only in the next model call's
    messages (collector/rules/refused_calls.py)."""
    if not _is_call(span):
        return []
    return refused_genai_calls(span, _REFUSED)
