"""Microsoft Agent Framework (its own GenAI spans, sensitive data on): the conventions read
its runs and steps; this module reads a run cancelled (or Ctrl-C) while it runs, which ends
its ``invoke_agent`` span and the tool it was in with no status and without the output
(result) every other ending records; and a run stopped at its ``max_iterations`` (40 model
calls by default), which answers with a text of the framework's own after a last model
call whose tools never ran: ``max_steps``. See tests/frameworks/SPANS.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import agent_framework as MAF
from collector.decode import SpanRecord
from collector.event_messages import tool_call_result
from collector.messages import loads
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
    "derive_step_fields",
]

SCOPES = frozenset({MAF.SCOPE})


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
    told = tool_call_result(str(call_id), later[:4])  # the next calls; each holds it all
    return {"tool_result": told} if told is not None else {}
