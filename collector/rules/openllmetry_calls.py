"""Model calls traced by OpenLLMetry's client instrumentations (``opentelemetry-instrumentation-
openai`` and its siblings for Anthropic, Bedrock, Ollama, ...), which the Traceloop SDK turns on.

Current releases write the GenAI conventions (``gen_ai.operation.name=chat``, the message
JSON), read generically. Earlier ones named no operation: a model call was told by
``llm.request.type`` (``chat``, ``completion``), its messages were the indexed
``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` keys (read generically too, tool calls
included) and its finish reasons ``gen_ai.completion.N.finish_reason``. See SPANS.md.
"""

from __future__ import annotations

import json
from typing import Any

from collector.conventions import openllmetry as OLL
from collector.decode import SpanRecord

__all__ = ["SCOPES", "span_class", "step_fields"]

SCOPES = OLL.MODEL_CALL_SCOPES


def span_class(span: SpanRecord) -> str | None:
    return "think" if span.attributes.get(OLL.REQUEST_TYPE) in OLL.MODEL_CALL_TYPES else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind != "think":
        return {}
    reasons: dict[int, str] = {}
    for key, value in span.attributes.items():
        match = OLL.COMPLETION_FINISH_REASON.match(key)
        if match and isinstance(value, str) and value:
            reasons[int(match.group(1))] = value
    if not reasons:
        return {}
    return {"finish_reasons": json.dumps([reasons[i] for i in sorted(reasons)])}
