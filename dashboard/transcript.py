"""An LLM step's conversation, read from its span's attributes; pure.

Instrumentations record the messages in different shapes; each is read into
the same :class:`Message` list:

- OpenTelemetry GenAI: ``gen_ai.system_instructions``, ``gen_ai.input.messages``,
  ``gen_ai.output.messages`` (JSON; messages with typed ``parts``);
- OpenAI-style message objects (``content`` plus ``tool_calls``), as some
  instrumentations put in those same attributes;
- OpenInference's flattened ``llm.input_messages.N.message.*`` /
  ``llm.output_messages.N.message.*``;
- the deprecated indexed ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``;
- the forms of dashboard/transcript_forms.py: GenAI span events, LiteLLM's raw
  request, Google ADK, the Vercel AI SDK, Langfuse and MLflow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dashboard.json_reading import NOT_JSON, json_or_text, parse_json
from dashboard.transcript_forms import FORMS

__all__ = ["Message", "ToolCall", "Transcript", "read_transcript", "looks_like_json"]


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asked for."""

    name: str
    arguments: str
    call_id: str | None = None


@dataclass(frozen=True)
class Message:
    """One chat message: who said it, its text, tool calls asked for, or the tool answered."""

    role: str  # system, user, assistant, tool
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_output: bool = False  # the completion, not the prompt


@dataclass(frozen=True)
class Transcript:
    """The prompt messages and the completion of one model call."""

    messages: list[Message] = field(default_factory=list)
    source: str | None = None  # which attribute convention it came from

    @property
    def is_empty(self) -> bool:
        return not self.messages


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2)


def _args(value: Any) -> str:
    parsed = json_or_text(value)
    if isinstance(parsed, dict | list):
        return json.dumps(parsed, ensure_ascii=False, indent=2)
    return _text(parsed)


def _from_parts(raw: dict[str, Any], *, is_output: bool) -> Message:
    """A GenAI semantic-conventions message (``role`` + typed ``parts``)."""
    role = str(raw.get("role") or ("assistant" if is_output else "user"))
    texts: list[str] = []
    calls: list[ToolCall] = []
    answered: str | None = None
    for part in raw.get("parts") or []:
        if not isinstance(part, dict):
            texts.append(_text(part))
            continue
        kind = part.get("type")
        if kind == "tool_call":
            calls.append(
                ToolCall(str(part.get("name") or "?"), _args(part.get("arguments")), part.get("id"))
            )
        elif kind == "tool_call_response":
            answered = part.get("id")
            texts.append(_text(part.get("response", part.get("result"))))
        else:
            texts.append(_text(part.get("content", part.get("text"))))
    if answered is not None and role not in ("tool",):
        role = "tool"
    return Message(role, "\n".join(t for t in texts if t), tuple(calls), answered, is_output)


def _from_openai(raw: dict[str, Any], *, is_output: bool) -> Message:
    """An OpenAI chat message (``content`` string or list, ``tool_calls``)."""
    role = str(raw.get("role") or ("assistant" if is_output else "user"))
    content = raw.get("content")
    if isinstance(content, list):
        text = "\n".join(
            _text(c.get("text", c.get("content"))) if isinstance(c, dict) else _text(c)
            for c in content
        )
    else:
        text = _text(content)
    calls = []
    for call in raw.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        nested = call.get("function")
        function: dict[str, Any] = nested if isinstance(nested, dict) else call
        calls.append(
            ToolCall(
                str(function.get("name") or "?"), _args(function.get("arguments")), call.get("id")
            )
        )
    return Message(role, text, tuple(calls), raw.get("tool_call_id"), is_output)


def _message(raw: Any, *, is_output: bool) -> Message:
    if not isinstance(raw, dict):
        return Message("assistant" if is_output else "user", _text(raw), is_output=is_output)
    if isinstance(raw.get("parts"), list):
        return _from_parts(raw, is_output=is_output)
    return _from_openai(raw, is_output=is_output)


def _genai(attrs: Mapping[str, Any]) -> list[Message]:
    messages: list[Message] = []
    system = json_or_text(attrs.get("gen_ai.system_instructions"))
    if system:
        parts = system if isinstance(system, list) else [system]
        text = "\n".join(
            _text(p.get("content")) if isinstance(p, dict) else _text(p) for p in parts
        )
        messages.append(Message("system", text))
    for key, is_output in (("gen_ai.input.messages", False), ("gen_ai.output.messages", True)):
        value = json_or_text(attrs.get(key))
        if isinstance(value, dict):
            value = [value]
        if isinstance(value, list):
            messages += [_message(m, is_output=is_output) for m in value]
    return messages


_FLAT = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(.+)$")
_LEGACY = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")
_CALL = re.compile(r"^tool_calls\.(\d+)\.(?:tool_call\.)?(?:function\.)?(name|arguments|id)$")


def _indexed(attrs: Mapping[str, Any], pattern: re.Pattern[str], outputs: str) -> list[Message]:
    grouped: dict[tuple[bool, int], dict[str, Any]] = {}
    for key, value in attrs.items():
        found = pattern.match(key)
        if not found:
            continue
        slot = grouped.setdefault((found.group(1) == outputs, int(found.group(2))), {})
        slot[found.group(3)] = value
    messages = []
    for (is_output, _), fields in sorted(grouped.items()):
        calls: dict[int, dict[str, Any]] = {}
        texts = [str(fields["content"])] if fields.get("content") is not None else []
        for name, value in sorted(fields.items()):
            call = _CALL.match(name)
            if call:
                calls.setdefault(int(call.group(1)), {})[call.group(2)] = value
            elif name.startswith("contents.") and name.endswith(".text"):
                texts.append(str(value))
        messages.append(
            Message(
                role=str(fields.get("role") or ("assistant" if is_output else "user")),
                text="\n".join(texts),
                tool_calls=tuple(
                    ToolCall(str(c.get("name") or "?"), _args(c.get("arguments")), c.get("id"))
                    for _, c in sorted(calls.items())
                ),
                tool_call_id=fields.get("tool_call_id"),
                is_output=is_output,
            )
        )
    return messages


def read_transcript(
    attributes: Mapping[str, Any] | None, span: Mapping[str, Any] | None = None
) -> Transcript:
    """The conversation recorded on a span, from whichever convention it used.

    ``span``, the stored span as the API returns it, adds its events, scope and name,
    which some conventions need (messages as events, LiteLLM's raw request)."""
    attrs = attributes or {}
    for source, read in (
        ("gen_ai", _genai),
        ("openinference", lambda a: _indexed(a, _FLAT, "output")),
        ("gen_ai (deprecated)", lambda a: _indexed(a, _LEGACY, "completion")),
    ):
        messages = read(attrs)
        if messages:
            return Transcript(messages, source)
    for source, form in FORMS:
        prompt, completion = form(attrs, span or {})
        if prompt or completion:
            return Transcript(
                [_message(m, is_output=False) for m in prompt]
                + [_message(m, is_output=True) for m in completion],
                source,
            )
    return Transcript()


def looks_like_json(text: str) -> bool:
    """True when ``text`` parses as a JSON object or array (for highlighting)."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return False
    return parse_json(stripped) is not NOT_JSON
