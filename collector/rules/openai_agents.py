"""The OpenAI Agents SDK through OpenInference: a run stopped by ``max_turns``
(``MaxTurnsExceeded``, only the agent span's status description tells) reached its step
limit, it did not fail. A hand-off's TOOL span (``handoff to {agent}``) holds the agent
names, not the call: its arguments are those the model gave the hand-off tool, from the
turn's ``generation``. The SDK's workflow span is classified in collector/frameworks.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import as_text, indexed_keys, loads
from instrumentation.attributes import RunStatus

__all__ = ["SCOPES", "run_status", "step_fields", "derive_run_fields", "derive_step_fields"]

SCOPES = frozenset({OI.OPENAI_AGENTS_SCOPE})


def run_status(span: SpanRecord) -> str | None:
    if span.status_code == 2 and span.status_message.startswith(OI.OPENAI_AGENTS_MAX_TURNS):
        return RunStatus.MAX_STEPS
    return None


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """An input guardrail's tripwire fails the run, but only its ``turn`` span says so
    (the agent span stays OK; an output guardrail's fails the agent span itself). A run
    that ended on a tool's result (``tool_use_behavior`` "stop_on_first_tool" or
    ``StopAtTools``: no model call after it) answers with that result."""
    if run_span.status_code == 2:
        return {}
    for span in sorted(own, key=lambda s: s.start_ns):
        if span.status_code == 2 and span.status_message.startswith(OI.OPENAI_AGENTS_TRIPWIRE):
            return {"status": RunStatus.FAILED, "error": span.status_message}
    steps = [s for s in own if _kind(s) in (OI.KIND_LLM, OI.KIND_TOOL) and not _is_handoff(s)]
    last = max(steps, key=lambda s: (s.end_ns, s.start_ns), default=None)
    if last is not None and _kind(last) == OI.KIND_TOOL and last.status_code != 2:
        result = last.attributes.get(OI.OUTPUT_VALUE)
        if result is not None:
            return {"final_answer": as_text(result)}
    return {}


def _kind(span: SpanRecord) -> str:
    return str(span.attributes.get(OI.SPAN_KIND, "")).upper()


def _is_handoff(span: SpanRecord) -> bool:
    return span.name.startswith(OI.OPENAI_AGENTS_HANDOFF_PREFIX) and OI.TOOL_NAME not in (
        span.attributes
    )


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    """A hand-off's arguments are not its ``input.value`` (the agent handing over)."""
    if kind != "tool_call" or not _is_handoff(span):
        return {}
    return {"tool_args": {}}


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A hand-off's arguments: the one tool call of the turn's model call that no tool span
    of the turn ran."""
    if not _is_handoff(span) or span.parent_span_id is None:
        return {}
    turn = [s for s in trace_spans.values() if s.parent_span_id == span.parent_span_id]
    ran = {s.attributes.get(OI.TOOL_NAME) for s in turn if OI.TOOL_NAME in s.attributes}
    calls: dict[tuple[int, int], dict[str, Any]] = {}
    for generation in turn:
        for message, rest, value in indexed_keys(generation.attributes, OI.FLAT_MESSAGE, "output"):
            if rest.startswith("tool_calls."):
                index, _, field = rest.removeprefix("tool_calls.").partition(".")
                calls.setdefault((message, int(index)), {})[field] = value
    handoffs = [c for c in calls.values() if c.get(OI.TOOL_CALL_FUNCTION_NAME) not in ran]
    if len(handoffs) != 1:
        return {}
    arguments = loads(handoffs[0].get(OI.TOOL_CALL_FUNCTION_ARGUMENTS) or "{}")
    return {"tool_args": arguments} if isinstance(arguments, Mapping) else {}
