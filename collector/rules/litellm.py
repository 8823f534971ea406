"""LiteLLM's own OpenTelemetry callback (``callbacks=["otel"]``, scope ``litellm``).

Inside a span of the program's own (a loop written by hand around ``litellm.completion``)
LiteLLM writes no span per call: it writes each call onto the program's span, the last
overwriting the others, and keeps one ``raw_gen_ai_request`` child per call (the provider's
request and response, Python reprs). A person reading that trace sees the program's unit
of work and its calls, so here:

- a span of another scope LiteLLM wrote its calls onto (``litellm.call_id``, no
  OpenInference kind) is no model call but the program's span (collector/program_runs.py
  makes a root with model calls below it the run); a root that failed is the run itself,
  since the call that failed left no raw span below it. Its usage is the last call's, so
  the run's tokens are its calls';
- each ``raw_gen_ai_request`` is a model call (the served model and tokens from its
  reprs, its messages read by collector/event_messages.py). In the other modes it sits
  under the call's own span (``litellm_request``, or OpenInference's when both trace):
  a model call inside a model call, which collector/model_calls.py stores as one step,
  the outer, whichever arrives first.

See tests/frameworks/SPANS.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import litellm as LL
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.litellm_raw import is_raw_request, raw_literal
from collector.span_values import token_count

__all__ = ["SCOPES", "span_class", "step_fields", "wrote_onto"]

SCOPES = frozenset({LL.SCOPE})


def wrote_onto(span: SpanRecord) -> bool:
    """Whether LiteLLM wrote its calls onto this span of another instrumentation, one
    that is no model call of its own (OpenInference's, when both trace, is one), and left
    a raw request span per call below it: only when it captured content in spans
    (``gen_ai.input.messages``) under its long-standing keys (``gen_ai.system``). Without
    them the span is the only trace of the last call, and stays a model call."""
    attrs = span.attributes
    return (
        span.scope_name != LL.SCOPE
        and LL.CALL_ID in attrs
        and OI.SPAN_KIND not in attrs
        and G.GEN_AI_SYSTEM in attrs
        and G.GEN_AI_INPUT_MESSAGES in attrs
    )


def span_class(span: SpanRecord) -> str | None:
    return "think" if is_raw_request(span) else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    """A raw request's served model and tokens, from the provider's response."""
    if kind != "think" or not is_raw_request(span):
        return {}
    fields: dict[str, Any] = {}
    model = raw_literal(span, LL.RAW_MODEL)
    if isinstance(model, str) and model:
        fields["model"] = model
    usage = raw_literal(span, LL.RAW_USAGE)
    if isinstance(usage, Mapping):
        fields["input_tokens"] = token_count(usage.get("prompt_tokens"))
        fields["output_tokens"] = token_count(usage.get("completion_tokens"))
    return fields
