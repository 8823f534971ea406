"""Task and answer of a LangChain chain invoked on its own, with no graph: an LCEL
``prompt | model | parser``, a retrieval chain, ``model.with_structured_output(...)``.
The chain's span records what it was called with and what it returned, as both
instrumentations serialise them (OpenLLMetry under ``inputs`` / ``outputs``). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.messages import as_text, loads
from collector.rules import langchain_messages as LC
from collector.rules.langchain_state import state_answer, state_task

__all__ = ["chain_answer", "chain_task", "message_answer", "run_answer", "run_task"]

_WRAPPERS = ("inputs", "outputs", "output")


def _unwrapped(value: Any) -> Any:
    """The value itself: OpenLLMetry's ``{"inputs": ..., "tags": ...}`` taken off; a text
    that is no JSON stays text."""
    parsed = loads(value)
    if not isinstance(parsed, (Mapping, list)) and isinstance(value, str):
        return value  # a text, or a number or flag as its text
    for key in _WRAPPERS:
        if isinstance(parsed, Mapping) and key in parsed:
            return parsed[key]
    return parsed


def run_task(input_value: Any) -> str | None:
    """The request of a graph or chain run: the user message opening its turn, else its
    state's one text field, else the chain's own input."""
    return LC.turn_user_text(input_value) or state_task(input_value) or chain_task(input_value)


def run_answer(input_value: Any, output_value: Any) -> str | None:
    """The answer of a graph or chain run: its last message (or structured response), else
    the one text field its state gained, else what the chain returned."""
    found = LC.final_answer(output_value)
    if found is None and _is_message(_unwrapped(output_value)):
        return message_answer(output_value)  # none when it asked for tools
    if found is None:
        found = state_answer(input_value, output_value)
    return chain_answer(input_value, output_value) if found is None else found


def message_answer(output_value: Any) -> str | None:
    """The text of the chat message a chain returned (``prompt | model``, no parser), as
    either instrumentation serialises it; None when it returned something else, or a
    message asking for tools."""
    returned = _unwrapped(output_value)
    if not _is_message(returned):
        return None
    messages = LC.lc_messages({"messages": [returned]})
    if not messages or messages[0]["role"] != "assistant" or messages[0]["tool_calls"]:
        return None
    return str(messages[0]["text"] or "")


def chain_task(input_value: Any) -> str | None:
    """The request a chain was given: a text as it is (a question, a prompt variable); a
    mapping of one text field (``{"question": ...}``) that text. None otherwise: the
    messages and state readers, then the model call's request, decide."""
    given = _unwrapped(input_value)
    if isinstance(given, str):
        return given.strip() or None
    if isinstance(given, Mapping) and "messages" not in given:
        texts = [v for v in given.values() if isinstance(v, str) and v.strip()]
        return texts[0] if len(texts) == 1 and len(given) == 1 else None
    return None


def chain_answer(input_value: Any, output_value: Any) -> str | None:
    """What a chain returned: a text (a string parser's output) as it is, a chat message
    its text, a parsed object (a structured output, a JSON parser's) as JSON. A graph's
    state is not a chain's answer: a LangGraph graph returns its whole state, which holds
    every key it was given (the state readers answer for it)."""
    given, returned = _unwrapped(input_value), _unwrapped(output_value)
    if isinstance(returned, str):
        return returned
    if isinstance(returned, (int, float)):  # bool too
        return as_text(returned)
    if not isinstance(returned, (Mapping, list)) or not returned:
        return None
    if isinstance(returned, Mapping):
        if "messages" in returned or "structured_response" in returned:
            return None
        if isinstance(given, Mapping) and set(given) <= set(returned):
            return None  # the state carried on: a graph's, not a parsed object
        if _is_message(returned):
            return message_answer(output_value)
    return as_text(returned)


def _is_message(value: Any) -> bool:
    """A chat message as LangChain serialises it (``{"type", "data"}``, ``dumpd``'s
    ``{"lc": 1, ...}``) or as a role and content."""
    if not isinstance(value, Mapping):
        return False
    keys = set(value)
    return {"type", "data"} <= keys or value.get("lc") == 1 or {"role", "content"} <= keys
