"""LiteLLM's raw request span (``raw_gen_ai_request``): the provider's request and response
as Python reprs (collector/conventions/litellm.py), read as values. Pure."""

from __future__ import annotations

from typing import Any

from collector.conventions import genai as G
from collector.conventions import litellm as LL
from collector.decode import SpanRecord
from collector.python_literals import literal_eval

__all__ = ["is_raw_request", "raw_literal"]


def is_raw_request(span: SpanRecord) -> bool:
    """Whether the span is LiteLLM's raw request of one call: its scope, no operation (the
    call's own span has one), the provider's request or response keys."""
    if span.scope_name != LL.SCOPE or G.GEN_AI_OPERATION_NAME in span.attributes:
        return False
    return span.name == LL.RAW_REQUEST_SPAN or any(LL.RAW_KEY.match(key) for key in span.attributes)


def raw_literal(span: SpanRecord, field: str) -> Any:
    """The raw request's ``llm.{provider}.{field}`` repr as Python values; None when the
    span is no raw request or the text no literal (``ast.literal_eval`` evaluates literals
    only). A plain name (the model) is written as it is, not as a repr: it comes back as
    that text."""
    if not is_raw_request(span):
        return None
    for key, text in span.attributes.items():
        found = LL.RAW_KEY.match(key)
        if found is None or found.group(2) != field:
            continue
        if not isinstance(text, str) or field == LL.RAW_MODEL:
            return text
        try:
            return literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return None
