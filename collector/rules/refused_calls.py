"""Tool calls a framework answered without running a tool (a tool the agent does not have):
no tool span traces them, and the model call that followed was sent the framework's
message under the call's id, after the assistant message that asked. Read from that model
call's messages, OpenInference's flattened ones or the GenAI ``gen_ai.input.messages``, as
failed tool calls (collector/message_tools.py makes them steps). Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import indexed_keys, loads
from collector.told_calls import ToldCall

__all__ = ["refused_flat_calls", "refused_genai_calls"]

# A tool call of a flattened message: ``tool_calls.K.`` then OI.TOOL_CALL_ID, ... .
_FLAT_TOOL_CALL = re.compile(r"^tool_calls\.(\d+)\.(.+)$")


def refused_flat_calls(span: SpanRecord, refusal: re.Pattern[str]) -> list[ToldCall]:
    """The calls whose result (a ``tool`` message after the last assistant message in the
    span's ``llm.input_messages``) is the framework's ``refusal``; its first group the tool's
    name, unless the assistant message that asked names it."""
    messages: dict[int, dict[str, Any]] = {}
    for number, rest, value in indexed_keys(span.attributes, OI.FLAT_MESSAGE, "input"):
        messages.setdefault(number, {})[rest] = value
    ordered = [messages[n] for n in sorted(messages)]
    last = max((i for i, m in enumerate(ordered) if m.get("role") == "assistant"), default=-1)
    asked: dict[str, dict[str, Any]] = {}
    if last >= 0:
        for key, value in ordered[last].items():
            found = _FLAT_TOOL_CALL.match(key)
            if found is not None:
                asked.setdefault(found.group(1), {})[found.group(2)] = value
    by_id = {
        str(call[OI.TOOL_CALL_ID]): call for call in asked.values() if call.get(OI.TOOL_CALL_ID)
    }
    calls = []
    for message in ordered[last + 1 :]:
        text = message.get("content")
        if message.get("role") != "tool" or not isinstance(text, str):
            continue
        refused = refusal.match(text)
        if refused is None:
            continue
        call_id = str(message["tool_call_id"]) if message.get("tool_call_id") else None
        call = by_id.get(call_id or "", {})
        name = call.get(OI.TOOL_CALL_FUNCTION_NAME) or (
            refused.group(1) if refused.groups() else None
        )
        arguments = loads(call.get(OI.TOOL_CALL_FUNCTION_ARGUMENTS))
        calls.append(_told(span, name, arguments, call_id, text))
    return calls


def refused_genai_calls(span: SpanRecord, refusal: re.Pattern[str]) -> list[ToldCall]:
    """The calls whose ``tool_call_response`` part (after the last assistant message in the
    span's ``gen_ai.input.messages``) is the framework's ``refusal``, with the arguments of
    the assistant's ``tool_call`` part of the same id."""
    messages = loads(span.attributes.get(G.GEN_AI_INPUT_MESSAGES))
    if not isinstance(messages, list):
        return []
    ordered = [m for m in messages if isinstance(m, Mapping)]
    last = max((i for i, m in enumerate(ordered) if m.get("role") == "assistant"), default=-1)
    asked = {
        str(part.get("id")): part
        for part in (_parts(ordered[last]) if last >= 0 else [])
        if part.get("type") == "tool_call" and part.get("id")
    }
    calls = []
    for message in ordered[last + 1 :]:
        for part in _parts(message):
            # The GenAI conventions' field is ``response``; pydantic-ai writes ``result``.
            text = part.get("result", part.get("response"))
            if part.get("type") != "tool_call_response" or not isinstance(text, str):
                continue
            if refusal.match(text) is None:
                continue
            call_id = str(part["id"]) if part.get("id") else None
            call = asked.get(call_id or "", {})
            arguments = call.get("arguments")
            parsed = loads(arguments) if isinstance(arguments, str) else arguments
            name = part.get("name") or call.get("name")
            calls.append(_told(span, name, parsed, call_id, text))
    return calls


def _parts(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    parts = message.get("parts")
    return [p for p in parts if isinstance(p, Mapping)] if isinstance(parts, list) else []


def _told(span: SpanRecord, name: Any, arguments: Any, call_id: str | None, text: str) -> ToldCall:
    return ToldCall(
        name=str(name or "tool"),
        arguments=arguments if isinstance(arguments, Mapping) else {},
        call_id=call_id,
        result=None,
        error=text,
        before_ns=span.start_ns,
    )
