"""What a model call says, in any convention's attributes: the user request that opened its
turn, and its answer when it asked for no tool. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.event_messages import model_messages
from collector.messages import (
    flat_messages,
    has_tool_call,
    last_text,
    legacy_messages,
    loads,
    responses_messages,
    turn_user_text,
)

__all__ = ["llm_input_task", "last_answer", "llm_answer"]


def llm_input_task(span: SpanRecord) -> str | None:
    """The user message that opened the turn a model call answers (a run's task, when the
    run lacks one): after the history of earlier runs in the same conversation."""
    attrs = span.attributes
    return (
        turn_user_text(attrs.get(G.GEN_AI_INPUT_MESSAGES))
        or turn_user_text(flat_messages(attrs, "input"))
        or turn_user_text(legacy_messages(attrs, "prompt"))
        or turn_user_text(model_messages(span, "input"))  # events, older GenAI keys
    )


def last_answer(model_calls: Iterable[SpanRecord]) -> str | None:
    """The text of the last model call (by end) that answered without asking for a tool;
    failed calls are skipped."""
    for span in sorted(model_calls, key=lambda s: (s.end_ns, s.start_ns), reverse=True):
        if span.status_code == 2:
            continue
        answer = llm_answer(span)
        if answer is not None:
            return answer
    return None


def llm_answer(span: SpanRecord) -> str | None:
    """The text of a model call that answered without asking for a tool (``""`` when it
    answered with no text)."""
    attrs = span.attributes
    for messages in (
        loads(attrs.get(G.GEN_AI_OUTPUT_MESSAGES)),
        flat_messages(attrs, "output"),
        legacy_messages(attrs, "completion"),
        responses_messages(attrs.get(OI.OUTPUT_VALUE)),
        model_messages(span, "output"),  # events, older GenAI keys
    ):
        if not isinstance(messages, list) or not messages:
            continue
        if any(has_tool_call(m) for m in messages if isinstance(m, dict)):
            return None
        return last_text(messages) or ""
    return None
