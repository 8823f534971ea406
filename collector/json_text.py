"""JSON text read leniently: a string that is JSON becomes its value, anything else stays.

Span attributes carry JSON as text (messages, tool arguments) beside plain text, so a
reader parses when it can and keeps the text when it cannot: text that is no JSON, and
JSON nested past Python's recursion limit (``json.loads`` raises ``RecursionError``
there, which a hostile sender can reach). An unpaired surrogate escape (``"\\ud800"``) is
valid JSON text but no character UTF-8 can hold: read, it becomes U+FFFD, as the OTLP/JSON
decoder repairs one (the attribute's text keeps the escape); kept, it made every answer
holding it fail to encode and every row holding it fail to store. Standard library only:
the collector's readers and the dashboard's transcript both use it.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["loads"]


# A JSON escape that may be half of a surrogate pair; a pair is read as one character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(value: Any) -> Any:
    """``value`` parsed when it is JSON text; otherwise ``value`` as it is."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
            if _SURROGATE_ESCAPE.search(value):
                return _replace_lone_surrogates(parsed)
            return parsed
        except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
            return value
    return value


def _replace_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_SURROGATE.sub("\ufffd", k): _replace_lone_surrogates(v) for k, v in value.items()}
    return value
