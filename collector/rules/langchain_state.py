"""Task and answer of a LangGraph graph whose state has no messages (a ``StateGraph`` of a
``TypedDict`` of its own, as map-reduce graphs with ``Send`` are): what a person reads off
its input and output states. Pure."""

from __future__ import annotations

from typing import Any

from collector.rules.langchain_messages import state

__all__ = ["state_answer", "state_task"]


def _texts(value: Any) -> dict[str, str] | None:
    """The non-empty string fields of a state without messages; None for a message state,
    a ``Command`` (resuming a paused graph: no state) or no state at all."""
    parsed = state(value)
    if not parsed or "messages" in parsed or {"resume", "goto"} <= set(parsed):
        return None
    return {k: v for k, v in parsed.items() if isinstance(v, str) and v.strip()}


def state_task(value: Any) -> str | None:
    """The request: the input state's one text field (None when it has none or several:
    then the state as given is the task)."""
    texts = _texts(value)
    return next(iter(texts.values())) if texts is not None and len(texts) == 1 else None


def state_answer(input_value: Any, output_value: Any) -> str | None:
    """The answer: the one text field the graph wrote (new or changed from its input);
    None when it wrote none or several."""
    after = _texts(output_value)
    if after is None:
        return None
    before = _texts(input_value) or {}
    written = [v for k, v in after.items() if before.get(k) != v]
    return written[0] if len(written) == 1 else None
