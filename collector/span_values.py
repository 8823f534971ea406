"""Reading one span's attribute values as the run and step columns need them.

Pure: no I/O. Any OTLP value type may arrive under any key; these readers turn
what they can into text, JSON text or a token count, and None otherwise.
"""

from __future__ import annotations

import json
import re
from typing import Any

from collector.conventions import genai as G
from collector.decode import SpanRecord
from instrumentation import attributes as A

__all__ = [
    "MAX_TOKEN_COUNT",
    "text_value",
    "json_text",
    "token_count",
    "exception_message",
    "error_text",
]

STATUS_ERROR = 2
# A JSON escape that may be half of a surrogate pair.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def text_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def json_text(value: Any) -> str | None:
    """A value as JSON text: JSON strings are kept (written with ``\\uXXXX`` escapes, as
    many models and ``json.dumps`` send arguments, as the text they stand for), anything
    else is encoded."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
            if _SURROGATE_ESCAPE.search(value):
                # Python reads an unpaired "\ud800" escape; DuckDB's JSON refuses it,
                # and the span would fail to store after it was acknowledged.
                json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
            return json.dumps(value, ensure_ascii=False)
        return _unescaped(value, parsed)
    return json.dumps(value, ensure_ascii=False, default=str)


def _unescaped(text: str, parsed: Any) -> str:
    """``text`` with its ``\\u`` escapes written out ("Zürich", not "Z\\u00fcrich").
    Control characters stay escaped (json does so), and a lone surrogate keeps the text."""
    if "\\u" not in text:
        return text
    try:
        readable = json.dumps(parsed, ensure_ascii=False)
        readable.encode("utf-8")
    except (ValueError, RecursionError, UnicodeEncodeError):
        return text
    return readable


# No one model call reads or writes a trillion tokens; a bigger or negative
# "count" is not a count, and summed over a run it would overflow BIGINT.
MAX_TOKEN_COUNT = 10**12


def token_count(value: Any) -> int | None:
    """A token count attribute as an int; None when it is not a plausible count
    (the raw attribute stays in ``spans.attributes``)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        count = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return count if 0 <= count <= MAX_TOKEN_COUNT else None


def exception_message(span: SpanRecord) -> str | None:
    """``Type: message`` of the span's last exception event, if any."""
    for event in reversed(span.events):
        if event.get("name") == "exception":
            attrs = event.get("attributes") or {}
            kind = attrs.get(G.EXCEPTION_TYPE)
            message = attrs.get(G.EXCEPTION_MESSAGE)
            if kind and message:
                return f"{kind}: {message}"
            return text_value(message or kind)
    return None


def error_text(span: SpanRecord, own_key: str) -> str | None:
    """The clearest error description a span carries, or None when it did not fail."""
    own = span.attributes.get(own_key)
    if own:
        return text_value(own)
    if span.status_code != STATUS_ERROR:
        return None
    return (
        span.status_message
        or exception_message(span)
        or text_value(span.attributes.get(A.ERROR_TYPE))
        or "error"
    )
