"""The request an OpenAI Agents SDK input guardrail judged, on its span.

A tripped input guardrail ends the run before any model call, and no span of the SDK's holds
the input (its guardrail span data is a name and a flag): the run's request would be lost.
OpenInference's processor makes the guardrail's span current while the guardrail runs, so
the input it was handed goes there as OpenInference's ``input.value`` (text, or the input
items as JSON). Model inputs the SDK leaves out of traces
(``OPENAI_AGENTS_TRACE_INCLUDE_SENSITIVE_DATA=false``) are left out here too.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from opentelemetry import trace

__all__ = ["record_guardrail_input"]

# OpenInference's key for a span's input, and what a JSON input is declared as.
_INPUT_VALUE = "input.value"
_INPUT_MIME_TYPE = "input.mime_type"
_JSON = "application/json"
_SENSITIVE = "OPENAI_AGENTS_TRACE_INCLUDE_SENSITIVE_DATA"


def record_guardrail_input() -> None:
    """Wrap ``InputGuardrail.run`` (once) to put its input on the current span."""
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
