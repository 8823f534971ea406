"""Semantic Kernel (native OTel GenAI spans, ``SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_
DIAGNOSTICS``): its model calls name their finish reason in a key of their own. The rest is
read by the conventions. See tests/frameworks/SPANS.md."""

from __future__ import annotations

import json
from typing import Any

from collector.conventions import semantic_kernel as SK
from collector.decode import SpanRecord

__all__ = ["SCOPES", "step_fields"]

SCOPES = frozenset({SK.MODEL_CALL_SCOPE})


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    reason = span.attributes.get(SK.FINISH_REASON)
    if kind != "think" or not isinstance(reason, str) or not reason:
        return {}
    return {"finish_reasons": json.dumps([reason.removeprefix(SK.FINISH_REASON_ENUM).lower()])}
