"""What LangChain's agent middleware (``create_agent(..., middleware=[...])``, LangChain 1.x)
leaves in an OpenInference trace that the graph state alone does not tell. Pure.

Each middleware hook runs as a graph node (``langgraph_node`` = ``{Middleware}.before_model``,
``{Middleware}[{tool}].after_model``, ...), a CHAIN span with the state it was given and the
update it returned. Two built-in ones decide how a run reads:

- ``ModelCallLimitMiddleware`` / ``ToolCallLimitMiddleware`` ending the run
  (``exit_behavior="end"``) put an AI message of their own last in the state ("Model call
  limits exceeded: run limit (2/2)", "'get_weather' tool call limit reached: ..."), made by
  no model: the run stopped at its limit with no answer. With ``exit_behavior="error"``
  they raise ``ModelCallLimitExceededError`` / ``ToolCallLimitExceededError``.
- A middleware answering the model's tool calls itself (the tool call limit refusing a call
  over it, ``exit_behavior="continue"``) returns tool messages from an ``after_model`` node:
  those tools never ran and no tool span exists, yet the model asked and was answered, so
  each is a tool step with that answer as its error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import loads
from collector.rules import langchain_messages as LC
from collector.told_calls import ToldCall

__all__ = ["LIMIT_ERRORS", "limit_stop", "answered_tool_calls"]

LIMIT_ERRORS = frozenset({"ModelCallLimitExceededError", "ToolCallLimitExceededError"})
# The texts LangChain's limit middleware end a run with (model_call_limit.py,
# tool_call_limit.py): "Model call limits exceeded: ...", "{Tool|'name' tool} call limit
# reached: ...".
_LIMIT_TEXT = re.compile(
    r"^(?:Model call limits exceeded: |(?:Tool|'[^']*' tool) call limit reached: )"
)
_AFTER_MODEL = ".after_model"


def _body(message: Any) -> Mapping[str, Any]:
    """A serialised message's fields (``messages_to_dict`` or ``dumpd`` shape)."""
    if not isinstance(message, Mapping):
        return {}
    for key in ("data", "kwargs"):
        if isinstance(message.get(key), Mapping):
            return message[key]  # type: ignore[no-any-return]
    return message


def limit_stop(output_value: Any) -> str | None:
    """The limit middleware's message when it ended the run: the state's last message is
    an AI message no model made (no response metadata) saying a limit was hit."""
    messages = LC.state(output_value).get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    last = LC.lc_messages({"messages": messages[-1:]})
    body = _body(messages[-1])
    if not last or last[0]["role"] != "assistant" or body.get("response_metadata"):
        return None
    text = last[0]["text"]
    return text if isinstance(text, str) and _LIMIT_TEXT.match(text) else None


def answered_tool_calls(span: SpanRecord) -> list[ToldCall]:
    """The model's tool calls an ``after_model`` middleware node answered itself, with the
    tool messages it returned (none of them ran)."""
    attrs = span.attributes
    if str(attrs.get(OI.SPAN_KIND, "")).upper() != OI.KIND_CHAIN:
        return []
    metadata = loads(attrs.get(OI.METADATA))
    node = metadata.get(OI.LANGGRAPH_NODE) if isinstance(metadata, Mapping) else None
    if not isinstance(node, str) or not node.endswith(_AFTER_MODEL):
        return []
    update = loads(attrs.get(OI.OUTPUT_VALUE))
    replies = update.get("messages") if isinstance(update, Mapping) else None
    if not isinstance(replies, list):
        return []
    asked = _asked(attrs.get(OI.INPUT_VALUE))
    calls: list[ToldCall] = []
    for reply in replies:
        body = _body(reply)
        kind = reply.get("type") if isinstance(reply, Mapping) else None
        if kind != "tool" and body.get("type") != "tool":
            continue
        call_id = body.get("tool_call_id")
        call = asked.get(str(call_id), {})
        read = LC.lc_messages({"messages": [reply]})
        text = read[0]["text"] if read else None
        failed = body.get("status") == "error"
        calls.append(
            ToldCall(
                name=str(body.get("name") or call.get("name") or "tool"),
                arguments=call.get("args") if isinstance(call.get("args"), Mapping) else {},
                call_id=str(call_id) if call_id else None,
                result=None if failed else text,
                error=(text or "error") if failed else None,
                before_ns=span.end_ns,
            )
        )
    return calls


def _asked(state_value: Any) -> dict[str, Mapping[str, Any]]:
    """The tool calls of the state's last AI message, by id."""
    messages = LC.state(state_value).get("messages")
    for message in reversed(messages if isinstance(messages, list) else []):
        body = _body(message)
        calls = body.get("tool_calls")
        if isinstance(calls, list) and calls:
            return {str(c.get("id")): c for c in calls if isinstance(c, Mapping)}
    return {}
