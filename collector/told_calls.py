"""A tool call that no span traces, as a framework's module reads it from messages
(collector/message_tools.py makes it a step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ToldCall", "DERIVED_FROM"]

# Marks a stand-in span with the id of the span whose messages told it: the step points at
# that span (a real one, whose parent places the step in its run).
DERIVED_FROM = "agent_audit.derived_from_span_id"


@dataclass(frozen=True, slots=True)
class ToldCall:
    """One tool call read from messages, and when it ran as far as they tell: just before
    ``before_ns`` (the model call that was sent its result, or the end of the run).
    ``in_source``: the span that told it is the run it belongs to (else that span's parent
    is)."""

    name: str
    arguments: Any
    call_id: str | None
    result: Any
    error: str | None
    before_ns: int
    in_source: bool = False
