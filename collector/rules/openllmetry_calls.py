"""Model calls traced by OpenLLMetry's client instrumentations (``opentelemetry-instrumentation-
openai`` and its siblings for Anthropic, Bedrock, Ollama, ...), which the Traceloop SDK turns on.

Current releases write the GenAI conventions (``gen_ai.operation.name=chat``, the message
JSON), read generically. Earlier ones named no operation: a model call was told by
``llm.request.type`` (``chat``, ``completion``), its messages were the indexed
``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` keys (read generically too, tool calls
included) and its finish reasons ``gen_ai.completion.N.finish_reason``. The Bedrock
instrumentation counts a call's cache reads and writes apart from its input tokens: the
step's prompt is their sum. See SPANS.md.
"""

from __future__ import annotations

import json
from typing import Any

from collector.conventions import openllmetry as OLL
from collector.decode import SpanRecord
from collector.span_values import token_count
from instrumentation import attributes as A

__all__ = ["SCOPES", "span_class", "step_fields"]

SCOPES = OLL.MODEL_CALL_SCOPES


def span_class(span: SpanRecord) -> str | None:
    return "think" if span.attributes.get(OLL.REQUEST_TYPE) in OLL.MODEL_CALL_TYPES else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind != "think":
        return {}
    fields = _whole_prompt(span)
    reasons: dict[int, str] = {}
    for key, value in span.attributes.items():
        match = OLL.COMPLETION_FINISH_REASON.match(key)
        if match and isinstance(value, str) and value:
            reasons[int(match.group(1))] = value
    if reasons:
        fields["finish_reasons"] = json.dumps([reasons[i] for i in sorted(reasons)])
    return fields


def _whole_prompt(span: SpanRecord) -> dict[str, Any]:
    """A Bedrock call's prompt tokens with its cache reads and writes in them, as every
    other model call counts its prompt (Bedrock's ``inputTokens`` leaves them out)."""
    if span.scope_name != OLL.BEDROCK_SCOPE:
        return {}
    attrs = span.attributes
    counts = [
        token_count(attrs.get(key))
        for key in (
            A.GEN_AI_USAGE_INPUT_TOKENS,
            OLL.USAGE_CACHE_READ_INPUT_TOKENS,
            OLL.USAGE_CACHE_CREATION_INPUT_TOKENS,
        )
    ]
    if counts[0] is None or counts[1:] == [None, None]:
        return {}
    return {"whole_prompt_tokens": sum(c or 0 for c in counts)}
