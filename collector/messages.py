"""Chat messages out of span attributes, in every shape the frameworks write them.

The GenAI JSON shape (``parts``), the chat shape (``content``), OpenInference's
flattened keys and the deprecated indexed GenAI keys. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.json_text import loads

__all__ = [
    "thinking_text",
    "indexed_keys",
    "flat_messages",
    "legacy_messages",
    "responses_messages",
    "has_tool_call",
    "first_user_text",
    "turn_user_text",
    "last_text",
    "message_text",
    "loads",
    "as_text",
    "json_field",
]


def thinking_text(messages: Any) -> str | None:
    parsed = loads(messages)
    if not isinstance(parsed, list):
        return None
    texts = [
        str(part.get("content"))
        for message in parsed
        if isinstance(message, dict)
        for part in message.get("parts") or []
        if isinstance(part, dict)
        and part.get("type") in {"thinking", "reasoning"}
        and part.get("content")
    ]
    return "\n".join(texts) or None


def indexed_keys(
    attrs: Mapping[str, Any], pattern: re.Pattern[str], group: str
) -> Iterator[tuple[int, str, Any]]:
    """(message index, rest of the key, value) of keys like ``<group>.N.<rest>``.

    ``pattern``'s groups are: the kind or direction, the index, the rest.
    """
    for key, value in attrs.items():
        match = pattern.match(key)
        if match and match.group(1) == group:
            yield int(match.group(2)), match.group(3), value


def flat_messages(attrs: Mapping[str, Any], direction: str) -> list[dict[str, Any]]:
    """OpenInference's flattened ``llm.{input,output}_messages.N.message.*`` as a list."""
    messages: dict[int, dict[str, Any]] = {}
    for number, rest, value in indexed_keys(attrs, OI.FLAT_MESSAGE, direction):
        message = messages.setdefault(number, {"content_parts": {}})
        if rest in {"role", "content"}:
            message[rest] = value
        elif rest.startswith("tool_calls."):
            message["tool_calls"] = True
        elif rest.startswith("contents.") and rest.endswith(".message_content.text"):
            index = int(rest.split(".")[1])
            message["content_parts"][index] = value
    out = []
    for index in sorted(messages):
        message = messages[index]
        parts = message.pop("content_parts")
        if "content" not in message and parts:
            message["content"] = "\n".join(str(parts[i]) for i in sorted(parts))
        out.append(message)
    return out


def legacy_messages(attrs: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """Deprecated indexed ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` attributes. A
    content that is a JSON list of typed parts (OpenLLMetry's Cohere spans write the
    answer's ``[{"type": "text", "text": ...}]``) is read as those parts."""
    messages: dict[int, dict[str, Any]] = {}
    for number, field, value in indexed_keys(attrs, G.INDEXED_MESSAGE, kind):
        message = messages.setdefault(number, {})
        if field.startswith("tool_calls"):
            message["tool_calls"] = True
        elif field == "content":
            message[field] = _typed_parts(value)
        else:
            message[field] = value
    return [messages[i] for i in sorted(messages)]


def _typed_parts(value: Any) -> Any:
    """``value`` as a list of parts when it is the JSON of one (every item an object with a
    ``type``), else as it is."""
    if not isinstance(value, str) or not value.startswith("["):
        return value
    parsed = loads(value)
    if isinstance(parsed, list) and all(isinstance(p, dict) and "type" in p for p in parsed):
        return parsed
    return value


def responses_messages(value: Any) -> list[dict[str, Any]]:
    """The output of an OpenAI Responses API object (or a list of them, the last one
    counting) as chat-shaped assistant messages: text from ``output_text`` parts, and
    ``tool_calls`` for a ``function_call`` item. The OpenAI Agents SDK records a streamed
    model call this way only."""
    parsed = loads(value)
    if isinstance(parsed, list):
        parsed = next(
            (r for r in reversed(parsed) if isinstance(r, Mapping) and "output" in r), None
        )
    items = parsed.get("output") if isinstance(parsed, Mapping) else None
    if not isinstance(items, list):
        return []
    messages: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        if item.get("type") == "function_call":
            messages.append({"role": "assistant", "tool_calls": True})
        elif item.get("type") == "message":
            content = item.get("content")
            parts = content if isinstance(content, list) else []
            text = "".join(
                str(p.get("text"))
                for p in parts
                if isinstance(p, Mapping) and p.get("type") == "output_text" and p.get("text")
            )
            messages.append({"role": "assistant", "content": text})
    return messages


def has_tool_call(message: Mapping[str, Any]) -> bool:
    if message.get("tool_calls"):
        return True
    parts = message.get("parts")
    return isinstance(parts, list) and any(
        isinstance(p, dict) and p.get("type") == "tool_call" for p in parts
    )


def first_user_text(messages: Any) -> str | None:
    """The first user message's text, in the GenAI (parts) or chat (content) shape."""
    parsed = loads(messages)
    if not isinstance(parsed, list):
        return None
    for message in parsed:
        if isinstance(message, dict) and message.get("role") == "user":
            text = message_text(message)
            if text:
                return text
    return None


def turn_user_text(messages: Any) -> str | None:
    """The user message that opened the current turn: the first one after the last
    assistant message (a conversation's history comes before it), else the last one.

    A run's first model call is sent the history of earlier runs in the same conversation
    and then the new request; without history this is the first user message.
    """
    parsed = loads(messages)
    if not isinstance(parsed, list):
        return None
    dicts = [m for m in parsed if isinstance(m, dict)]
    last_reply = max((i for i, m in enumerate(dicts) if m.get("role") in _REPLY_ROLES), default=-1)
    users = [
        (i, text)
        for i, m in enumerate(dicts)
        if m.get("role") == "user" and (text := message_text(m))
    ]
    after = [text for i, text in users if i > last_reply]
    if after:
        return after[0]
    return users[-1][1] if users else None


_REPLY_ROLES = frozenset({"assistant", "model", "ai"})


def last_text(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") in {None, "assistant", "model"}:
            text = message_text(message)
            if text:
                return text
    return None


def message_text(message: Mapping[str, Any]) -> str | None:
    texts: list[str] = []
    for part in message.get("parts") or []:
        if isinstance(part, dict) and part.get("type") == "text" and part.get("content"):
            texts.append(str(part["content"]))
    content = message.get("content")
    if isinstance(content, str) and content:
        texts.append(content)
    elif isinstance(content, list):
        texts.extend(
            str(item.get("text"))
            for item in content
            if isinstance(item, dict) and item.get("type") == "text" and item.get("text")
        )
    return "\n".join(texts) or None


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def json_field(text: Any, key: str) -> Any:
    """``key``'s value in a JSON object's text even when the rest is no longer JSON (a
    redaction replaced a later value with an unquoted marker); None when it is not found."""
    parsed = loads(text)
    if isinstance(parsed, Mapping):
        return parsed.get(key)
    if not isinstance(text, str):
        return None
    found = re.search(r'"' + re.escape(key) + r'"\s*:\s*', text)
    if found is None:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text, found.end())
    except (ValueError, RecursionError):
        return None
    return value
