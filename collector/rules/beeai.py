"""BeeAI Framework via openinference-instrumentation-beeai: an agent (RequirementAgent,
ToolCallingAgent, ReActAgent) is an AGENT span, each model call an LLM span, each tool a TOOL
span; see tests/frameworks/SPANS.md.

- the spans the instrumentation adds for emitter events (``error`` under a failed tool or
  model call, ``final_answer`` under the agent) take their parent's kind: no run, no step;
- a tool's arguments are its ``input.value``'s ``input``; the ``final_answer`` tool a
  RequirementAgent answers with is the run's ``response`` step;
- a failed span's ``output.value`` is BeeAI's explanation of the error and its causes (the
  span itself says only ``Tool Error`` / ``Chat Model error``): read as the error, never as
  an answer;
- an agent stopped at ``max_iterations`` is ``max_steps``;
- an agent or tool whose run started but neither succeeded nor failed (its span OK, with no
  ``success`` or ``error`` event) was cancelled: the run ``cancelled`` without an answer,
  the tool step ``cancelled``;
- a run's task is its ``input.value``'s ``input`` (the run's options are beside it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import beeai as B
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import loads, message_text
from collector.rules.common import CANCELLED_STEP_ERROR
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "span_class",
    "run_fields",
    "run_status",
    "step_fields",
    "derive_run_fields",
]

SCOPES = frozenset({B.SCOPE})
_STATUS_ERROR = 2


def span_class(span: SpanRecord) -> str | None:
    attrs = span.attributes
    if B.EVENT_PATH in attrs and B.CLASS_NAME not in attrs:
        return "other"  # an emitter event's span, of its parent's kind
    return None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    """The task is the run's ``input`` (its options beside it: ``max_iterations``, ...): a
    text, or messages whose last user one is the request."""
    fields: dict[str, Any] = {}
    call = loads(span.attributes.get(OI.INPUT_VALUE))
    given = call.get(B.CALL_INPUT) if isinstance(call, Mapping) else None
    if isinstance(given, str):
        fields["task"] = given
    elif isinstance(given, list):
        users = [m for m in given if isinstance(m, Mapping) and m.get("role") == "user"]
        text = message_text(users[-1]) if users else None
        if text:
            fields["task"] = text
    if span.status_code == _STATUS_ERROR:
        fields.update(final_answer=None, error=explained_error(span))
    return fields


def _cut_off(span: SpanRecord) -> bool:
    """A BeeAI object's run that started and neither succeeded nor failed: cancelled."""
    if span.status_code == _STATUS_ERROR or B.CLASS_NAME not in span.attributes:
        return False
    events = {str(e.get("name", "")).split(" ", 1)[0] for e in span.events}
    return B.EVENT_START in events and not events & B.EVENTS_ENDED


def run_status(span: SpanRecord) -> str | None:
    if _cut_off(span):
        return RunStatus.CANCELLED
    if span.status_code != _STATUS_ERROR:
        return None
    error = explained_error(span) or ""
    return RunStatus.MAX_STEPS if B.MAX_ITERATIONS.search(error) else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    attrs = span.attributes
    fields: dict[str, Any] = {}
    if span.status_code == _STATUS_ERROR:
        fields["error"] = explained_error(span)
    if kind != "tool_call":
        return fields
    call = loads(attrs.get(OI.INPUT_VALUE))
    if isinstance(call, Mapping) and B.CALL_INPUT in call:
        fields["tool_args"] = call[B.CALL_INPUT]
    if span.status_code == _STATUS_ERROR:
        fields["tool_result"] = None
    elif _cut_off(span):
        fields["error"] = CANCELLED_STEP_ERROR
    elif attrs.get(OI.TOOL_NAME) in B.FINAL_ANSWER_TOOLS:
        fields["action_type"] = "response"
    return fields


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """A cancelled run has no answer (its last model call's forced tool call is none)."""
    return {"final_answer": None} if _cut_off(run_span) else {}


def explained_error(span: SpanRecord) -> str | None:
    """``Class: message``, then each cause's (``; caused by ...``), from BeeAI's explanation
    in ``output.value``; else the span's own status or exception."""
    text = span.attributes.get(OI.OUTPUT_VALUE)
    errors = []
    if isinstance(text, str):
        for line in text.splitlines():
            found = B.EXPLAINED_ERROR.match(line)
            if found:
                errors.append(f"{found.group(1)}: {found.group(3).strip()}")
    if errors:
        return "; caused by ".join(errors)
    return None
