"""Values cut to a preview for being over the size limit (instrumentation/redaction.py):
the JSON they held is no longer whole, yet the start of a string in it (a tool's output
inside its message) can still be read. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["cut_json_string"]

# The marker the cut leaves at the end of the preview.
_CUT_MARK = re.compile(r"\n…\[truncated by agent-audit: \d+ bytes, sha256=[0-9a-f]+\]\Z")
_LONGEST_ESCAPE = 6  # \uXXXX


def cut_json_string(value: Any, keys: Iterable[str]) -> str | None:
    """When ``value`` is the preview of a JSON text cut short, the string under the first of
    ``keys`` found in it (as much of it as the preview holds), followed by the cut marker;
    None for any other value."""
    if not isinstance(value, str):
        return None
    mark = _CUT_MARK.search(value)
    if mark is None:
        return None
    body = value[: mark.start()]
    for key in keys:
        found = re.search(r'"' + re.escape(key) + r'"\s*:\s*"', body)
        if found is not None:
            return _string_from(body, found.end()) + value[mark.start() :]
    return None


def _string_from(text: str, start: int) -> str:
    """The JSON string starting at ``start`` (just past its quote), up to its closing quote
    or the end of ``text``; an escape the cut split is dropped."""
    end, escaped = start, False
    while end < len(text):
        char = text[end]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            break
        end += 1
    chunk = text[start:end]
    for trim in range(_LONGEST_ESCAPE + 1):
        try:
            decoded = json.loads(f'"{chunk[: len(chunk) - trim]}"')
        except ValueError:
            continue
        return str(decoded)
    return chunk
