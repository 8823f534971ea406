"""JSON text read leniently: a string that is JSON becomes its value, anything else stays.

Span attributes carry JSON as text (messages, tool arguments) beside plain text, so a
reader parses when it can and keeps the text when it cannot: text that is no JSON, and
JSON nested past Python's recursion limit (``json.loads`` raises ``RecursionError``
there, which a hostile sender can reach). Standard library only: the collector's readers
and the dashboard's transcript both use it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["loads"]


def loads(value: Any) -> Any:
    """``value`` parsed when it is JSON text; otherwise ``value`` as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
            return value
    return value
