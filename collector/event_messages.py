"""A model call's messages in every GenAI form, events included, as one chat shape. Pure.

The GenAI conventions have carried a call's messages as span attributes
(``gen_ai.input.messages`` / ``gen_ai.output.messages``, parts shape) and, in earlier
versions, as span events (collector/conventions/genai.py names the three forms). An
instrumentation of any framework may use any of them; this module reads them all into
``{"role", "content", "tool_calls": [{"id", "name", "arguments"}], "id", "finish_reason"}``
dicts, which the readers of collector/messages.py understand.

Only the GenAI forms are read here, and LiteLLM's ``raw_gen_ai_request`` (the OpenAI chat
shape as Python reprs, which its callback may leave as the only trace of a call):
OpenInference's flattened keys and the indexed ``gen_ai.prompt.N.*`` keys have their own
readers in collector/messages.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import litellm as LL
from collector.decode import SpanRecord
from collector.litellm_raw import raw_literal
from collector.messages import as_text, loads

__all__ = ["model_messages", "finish_reasons", "tool_call_arguments", "tool_call_result"]

_INPUT = "input"
_OUTPUT = "output"


def model_messages(span: SpanRecord, direction: str) -> list[dict[str, Any]]:
    """The call's ``"input"`` or ``"output"`` messages from the first form it used."""
    attrs = span.attributes
    key = G.GEN_AI_INPUT_MESSAGES if direction == _INPUT else G.GEN_AI_OUTPUT_MESSAGES
    found = _messages(loads(attrs.get(key)))
    if found:
        return found
    for event in _events(span, G.EVENT_OPERATION_DETAILS):
        found = _messages(loads(event.get(key)))
        if found:
            return found
    found = _per_message_events(span, direction)
    if found:
        return found
    whole_key = G.GEN_AI_PROMPT if direction == _INPUT else G.GEN_AI_COMPLETION
    event_name = G.EVENT_CONTENT_PROMPT if direction == _INPUT else G.EVENT_CONTENT_COMPLETION
    for event in _events(span, event_name):
        found = _messages(loads(event.get(whole_key)))
        if found:
            return found
    return _messages(loads(attrs.get(whole_key))) or _raw_request_messages(span, direction)


def _raw_request_messages(span: SpanRecord, direction: str) -> list[dict[str, Any]]:
    """LiteLLM's raw request (``messages``) or response (``choices``, each with its reason)."""
    if direction == _INPUT:
        return _messages(raw_literal(span, LL.RAW_MESSAGES))
    choices = raw_literal(span, LL.RAW_CHOICES)
    answers = [
        {**c["message"], "finish_reason": c.get("finish_reason")}
        for c in (choices if isinstance(choices, list) else [])
        if isinstance(c, Mapping) and isinstance(c.get("message"), Mapping)
    ]
    return _messages(answers)


def finish_reasons(span: SpanRecord) -> list[str]:
    """Why the call stopped, per answer, from its output messages (attributes or events)."""
    return [
        str(m["finish_reason"]) for m in model_messages(span, _OUTPUT) if m.get("finish_reason")
    ]


def tool_call_arguments(call_id: str, model_calls: Iterable[SpanRecord]) -> Any:
    """The arguments the model gave the tool call ``call_id``, from the output of the model
    call that asked for it (older tool spans name only the call's id)."""
    for span in model_calls:
        for message in model_messages(span, _OUTPUT):
            for call in message.get("tool_calls") or []:
                if call.get("id") == call_id and call.get("arguments") is not None:
                    return call["arguments"]
    return None


def tool_call_result(call_id: str, model_calls: Iterable[SpanRecord]) -> str | None:
    """The result of the tool call ``call_id`` as a later model call was sent it."""
    for span in model_calls:
        for message in model_messages(span, _INPUT):
            if message.get("role") == "tool" and message.get("id") == call_id:
                content = message.get("content")
                if content is not None:
                    return str(content)
    return None


# --- the forms -------------------------------------------------------------------------


def _events(span: SpanRecord, name: str) -> list[Mapping[str, Any]]:
    return [e.get("attributes") or {} for e in span.events if e.get("name") == name]


def _per_message_events(span: SpanRecord, direction: str) -> list[dict[str, Any]]:
    """1.28-1.36: one event per input message, one ``gen_ai.choice`` per answer."""
    found: list[dict[str, Any]] = []
    for event in span.events:
        name = event.get("name")
        attrs = event.get("attributes") or {}
        if direction == _INPUT and name in G.MESSAGE_EVENT_ROLES:
            role = str(attrs.get("role") or G.MESSAGE_EVENT_ROLES[str(name)])
            found.append(_chat_message({**attrs, "role": role}))
        elif direction == _OUTPUT and name == G.EVENT_CHOICE:
            message = loads(attrs.get("message"))
            body = dict(message) if isinstance(message, Mapping) else {"content": message}
            body.setdefault("role", "assistant")
            if attrs.get("finish_reason") and not body.get("finish_reason"):
                body["finish_reason"] = attrs["finish_reason"]
            found.append(_chat_message(body))
    return found


def _messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, Mapping):  # one message where a list was expected
        value = [value]
    if not isinstance(value, list):
        return []
    return [_chat_message(m) for m in value if isinstance(m, Mapping)]


def _chat_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message in the parts or the chat shape, as one chat-shaped dict."""
    out: dict[str, Any] = {"role": message.get("role")}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    parts = message.get("parts")
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text" and part.get("content"):
            texts.append(str(part["content"]))
        elif kind == "tool_call":
            calls.append(_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            out["id"] = part.get("id")
            texts.append(as_text(part.get("response")))
    content = message.get("content")
    text = _content_text(content)
    if text:
        texts.append(text)
    calls.extend(_tool_use_blocks(content))
    for call in _listed(loads(message.get("tool_calls"))):
        function = call.get("function")
        if isinstance(function, Mapping):  # the OpenAI chat shape
            calls.append(_call(call.get("id"), function.get("name"), function.get("arguments")))
        else:
            calls.append(_call(call.get("id"), call.get("name"), call.get("arguments")))
    if texts:
        out["content"] = "\n".join(texts)
    if calls:
        out["tool_calls"] = calls
    for key in ("id", "tool_call_id"):
        if message.get(key) is not None:
            out["id"] = message[key]
    if message.get("finish_reason"):
        out["finish_reason"] = message["finish_reason"]
    return out


def _call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {
        "id": None if call_id is None else str(call_id),
        "name": None if name is None else str(name),
        "arguments": loads(arguments),
    }


def _listed(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        value = [value]
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _blocks(content: Any) -> list[Mapping[str, Any]] | None:
    """Content blocks (``[{"type": "text", "text": ...}]``, Bedrock's ``[{"text": ...}]``,
    ``[{"toolUse": {...}}]``), written as JSON or as a list; None for other content."""
    parsed = loads(content) if isinstance(content, str) and content[:1] == "[" else content
    if isinstance(parsed, list) and parsed and all(_is_block(b) for b in parsed):
        return parsed
    return None


# What a content block holds (a JSON array of other objects, as a tool's result, is no blocks).
_BLOCK_KEYS = frozenset(
    {"type", "text", "toolUse", "toolResult", "reasoningContent", "image", "document"}
)


def _is_block(block: Any) -> bool:
    return isinstance(block, Mapping) and bool(_BLOCK_KEYS.intersection(block))


def _content_text(content: Any) -> str | None:
    """Text content, or the text of its content blocks; any other JSON as written."""
    if content is None or content == "" or content == []:
        return None  # no text: an empty list is no blocks (Semantic Kernel's filtered answer)
    blocks = _blocks(content)
    if blocks is not None:
        texts = [
            str(b.get("text") or b.get("content") or "")
            for b in blocks
            if b.get("type", "text") == "text"
        ]
        return "\n".join(t for t in texts if t) or None
    return content if isinstance(content, str) else as_text(content)


def _tool_use_blocks(content: Any) -> list[dict[str, Any]]:
    """Bedrock-style ``{"toolUse": {"toolUseId", "name", "input"}}`` blocks as tool calls."""
    calls = []
    for block in _blocks(content) or []:
        use = block.get("toolUse")
        if isinstance(use, Mapping):
            calls.append(_call(use.get("toolUseId"), use.get("name"), use.get("input")))
    return calls
