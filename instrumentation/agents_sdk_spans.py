"""What OpenInference's OpenAI Agents SDK spans lack, added from the SDK's own tracing events.

- The agent's name, at the agent span's start: OpenInference writes ``agent.name`` only when
  the span ends, so a live (pending) copy of a running agent looks like the SDK's workflow
  span, which is no run, and the run stayed invisible until it ended. The SDK knows the
  name when the span starts.
- The request an input guardrail judged: a tripped input guardrail ends the run before any
  model call, and no span of the SDK's holds the input (its guardrail span data is a name and
  a flag), so the run's request would be lost. It goes on the guardrail's span as
  ``input.value`` (text, or the input items as JSON). Model inputs the SDK leaves out of
  traces (``OPENAI_AGENTS_TRACE_INCLUDE_SENSITIVE_DATA=false``) are left out here too.
- A tool guardrail's rejection: a tool input or output guardrail answering
  ``reject_content(message)`` keeps the tool's call or result from the model, which is told
  the message instead; the tool's span ends OK with the message as its output, like a result
  (no guardrail span, no error). The guardrail is named on the tool's span
  (``agent_audit.tool.rejected_by``). One that raises fails the tool's span already.

All write on the span OpenInference's processor has made current for the SDK's span.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from opentelemetry import trace

from instrumentation.attributes import TOOL_REJECTED_BY

__all__ = ["complete_agents_sdk_spans"]

# OpenInference's keys.
_SPAN_KIND = "openinference.span.kind"
_AGENT_NAME = "agent.name"
_INPUT_VALUE = "input.value"
_INPUT_MIME_TYPE = "input.mime_type"
_JSON = "application/json"
_SENSITIVE = "OPENAI_AGENTS_TRACE_INCLUDE_SENSITIVE_DATA"
_KIND_TOOL = "TOOL"
# The SDK's verdict of a tool guardrail that keeps the call or result from the model.
_REJECT_CONTENT = "reject_content"


def complete_agents_sdk_spans() -> None:
    """Register the agent-name processor with the SDK, and wrap ``InputGuardrail.run`` and
    the tool guardrails' ``run`` (once). Call it right after OpenInference's processor is
    installed as the only one: it must see each span start first, and installing it dropped
    any processor added before."""
    from agents import add_trace_processor

    # Duck-typed (the SDK's TracingProcessor methods), so this module imports without it.
    add_trace_processor(_AgentNameAtStart())  # type: ignore[arg-type]
    _record_guardrail_input()
    _record_tool_rejections()


class _AgentNameAtStart:
    """An SDK trace processor (``agents.tracing.TracingProcessor``'s methods) that names an
    agent's span when it starts."""

    def on_trace_start(self, trace_: Any) -> None:
        pass

    def on_trace_end(self, trace_: Any) -> None:
        pass

    def on_span_start(self, span: Any) -> None:
        from agents.tracing.span_data import AgentSpanData

        data = getattr(span, "span_data", None)
        if isinstance(data, AgentSpanData) and data.name:
            current = trace.get_current_span()
            attributes = getattr(current, "attributes", None) or {}
            if (
                current.is_recording()
                and attributes.get(_SPAN_KIND) == "AGENT"
                and _AGENT_NAME not in attributes
            ):
                current.set_attribute(_AGENT_NAME, str(data.name))

    def on_span_end(self, span: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


def _record_guardrail_input() -> None:
    from agents.guardrail import InputGuardrail

    judged = InputGuardrail.run
    if getattr(judged, "_agent_audit_wrapped", False):
        return

    @functools.wraps(judged)
    async def run(self: Any, agent: Any, input: Any, context: Any) -> Any:  # noqa: A002
        _put_input(input)
        return await judged(self, agent, input, context)

    run._agent_audit_wrapped = True  # type: ignore[attr-defined]
    InputGuardrail.run = run  # type: ignore[method-assign]


def _put_input(value: Any) -> None:
    """Never raises into the agent: a value that cannot be written is left out."""
    # The SDK's own reading of the setting (agents.run_config).
    if os.environ.get(_SENSITIVE, "true").strip().lower() not in ("1", "true", "yes", "on"):
        return
    span = trace.get_current_span()
    if not span.is_recording():
        return
    try:
        if isinstance(value, str):
            span.set_attribute(_INPUT_VALUE, value)
        else:
            span.set_attribute(_INPUT_VALUE, json.dumps(value, default=str, ensure_ascii=False))
            span.set_attribute(_INPUT_MIME_TYPE, _JSON)
    except (TypeError, ValueError):
        return


def _record_tool_rejections() -> None:
    try:
        from agents.tool_guardrails import ToolInputGuardrail, ToolOutputGuardrail
    except ImportError:  # an SDK older than tool guardrails
        return
    for guardrail_class, stage in ((ToolInputGuardrail, "input"), (ToolOutputGuardrail, "output")):
        judged = guardrail_class.run
        if getattr(judged, "_agent_audit_wrapped", False):
            continue
        guardrail_class.run = _naming_rejection(judged, stage)  # type: ignore[method-assign]


def _naming_rejection(judged: Any, stage: str) -> Any:
    @functools.wraps(judged)
    async def run(self: Any, data: Any) -> Any:
        verdict = await judged(self, data)
        behavior = getattr(verdict, "behavior", None)
        if isinstance(behavior, dict) and behavior.get("type") == _REJECT_CONTENT:
            _name_rejection(f"tool {stage} guardrail {self.get_name()}")
        return verdict

    run._agent_audit_wrapped = True  # type: ignore[attr-defined]
    return run


def _name_rejection(guardrail: str) -> None:
    """On the tool's span (the one current while its guardrails run); never raises."""
    span = trace.get_current_span()
    attributes = getattr(span, "attributes", None) or {}
    if span.is_recording() and attributes.get(_SPAN_KIND) == _KIND_TOOL:
        span.set_attribute(TOOL_REJECTED_BY, guardrail)
