"""Stored text read as JSON when it is JSON a page can show; pure.

Tool arguments, results, messages and metadata are text an agent controls. Text
that parses as JSON is indented, compared and shown as a tree; every one of those
steps recurses once per level of nesting, and so does ``json.loads`` itself, which
gives up with ``RecursionError`` (not ``ValueError``) past about a thousand levels
(fewer inside a page's script, whose stack is already deep). So JSON nested deeper
than :data:`MAX_DEPTH` levels is read as the plain text it is, like any other text
that is not JSON: no reader of a page needs it indented two hundred levels deep.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "NOT_JSON", "json_or_text", "parse_json"]

MAX_DEPTH = 100


class _NotJson:
    """The marker :func:`parse_json` returns for text it does not read as JSON."""

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJson()


def _within_depth(value: Any, limit: int) -> bool:
    # Iterative: the value may be as deep as the parser allowed.
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        pending.extend((child, depth + 1) for child in children)
    return True


def parse_json(text: str) -> Any:
    """``text`` parsed, or :data:`NOT_JSON` when it is no JSON or nested past
    :data:`MAX_DEPTH` levels."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return NOT_JSON
    return value if _within_depth(value, MAX_DEPTH) else NOT_JSON


def json_or_text(value: Any) -> Any:
    """``value`` parsed when it is text holding JSON a page can show; otherwise as it is."""
    if isinstance(value, str):
        parsed = parse_json(value)
        return value if parsed is NOT_JSON else parsed
    return value
