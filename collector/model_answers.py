"""What a model call says, in any convention's attributes: the user request that opened its
turn, and its answer when it asked for no tool, or the arguments of the tool it was made
to call (structured output). Pure."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from collector.asked_tools import answered_tool_calls
from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.event_messages import model_messages
from collector.messages import (
    flat_messages,
    has_tool_call,
    json_field,
    last_text,
    legacy_messages,
    loads,
    responses_messages,
    turn_user_text,
)

__all__ = ["llm_input_task", "last_answer", "llm_answer", "forced_result"]

# ``tool_choice`` values that make the model call a tool (OpenAI's "required", Anthropic's
# "any"); "auto" and "none" leave it free.
_ANY_TOOL_FORCED = frozenset({"required", "any"})


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
    failed calls are skipped. When the last call was made to call a tool (structured
    output: Instructor, ``tool_choice`` naming a function), the arguments it gave are the
    result."""
    latest = True
    for span in sorted(model_calls, key=lambda s: (s.end_ns, s.start_ns), reverse=True):
        if span.status_code == 2:
            continue
        answer = llm_answer(span)
        if answer is None and latest:
            answer = forced_result(span)
        if answer is not None:
            return answer
        latest = False
    return None


def forced_result(span: SpanRecord) -> str | None:
    """The arguments of the one tool call a model call was made to answer with (its request's
    ``tool_choice`` named that tool, or any tool), as the model wrote them; None for a call
    free to answer in text, or that called several tools."""
    forced = _forced_tool(span.attributes)
    if forced is None:
        return None
    calls = answered_tool_calls(span)
    if len(calls) != 1 or (forced and calls[0].get("name") != forced):
        return None
    arguments = calls[0].get("arguments")
    if arguments is None:
        return None
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def _forced_tool(attrs: Mapping[str, Any]) -> str | None:
    """The tool a call's ``tool_choice`` forced (``""``: any tool), None when none was; read
    from the request OpenInference records (its invocation parameters or the raw request)."""
    choice = json_field(attrs.get(OI.LLM_INVOCATION_PARAMETERS), "tool_choice")
    if choice is None:
        choice = json_field(attrs.get(OI.INPUT_VALUE), "tool_choice")
    if isinstance(choice, str):
        return "" if choice in _ANY_TOOL_FORCED else None
    if not isinstance(choice, Mapping):
        return None
    function = choice.get("function")
    name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
    if isinstance(name, str) and name:
        return name  # {"type": "function", "function": {"name": ...}}, Anthropic's {"name"}
    return "" if choice.get("type") in _ANY_TOOL_FORCED else None


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
