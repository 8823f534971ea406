"""pydantic-ai's own spans: a run stopped by its request or tool-call limit
(``UsageLimits``) reached its step limit, it did not fail; a run given a conversation's
history (``message_history``) has it at the start of its messages, before
``pydantic_ai.new_message_index``: its task is the first user message from there."""

from __future__ import annotations

from typing import Any

from collector.conventions import pydantic_ai as PAI
from collector.decode import SpanRecord
from collector.messages import first_user_text, loads
from collector.rules.common import exception
from instrumentation.attributes import RunStatus

__all__ = ["SCOPES", "run_status", "run_fields"]

SCOPES = frozenset({PAI.SCOPE})


def run_status(span: SpanRecord) -> str | None:
    found = exception(span)
    if found is None or found[0].rsplit(".", 1)[-1] != PAI.USAGE_LIMIT_ERROR:
        return None
    return RunStatus.MAX_STEPS if any(limit in found[1] for limit in PAI.STEP_LIMITS) else None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    start = span.attributes.get(PAI.NEW_MESSAGE_INDEX)
    messages = loads(span.attributes.get(PAI.ALL_MESSAGES))
    if not isinstance(start, int) or isinstance(start, bool) or not isinstance(messages, list):
        return {}
    task = first_user_text(messages[start:]) if 0 <= start < len(messages) else None
    return {"task": task} if task else {}
