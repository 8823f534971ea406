"""The scripted LLM's answers in the shapes of two more vendors' APIs, served beside the
chat-completions endpoint (tests/scripted_llm.py): Anthropic's messages API
(``POST /v1/messages``) and Gemini's ``generateContent``
(``POST .../models/{model}:generateContent``), not streamed.

Each request is read as a chat-completions request (its model and its messages, the task in
the first user message) so the same scripts answer it; the scripted completion is then
written back in the vendor's shape: text and tool-use blocks with Anthropic's usage (cache
reads and writes apart from ``input_tokens``), parts with function calls and Gemini's
``usageMetadata`` (cached tokens inside the prompt count); an error in each vendor's error
body. Only what the vendors' Python SDKs read is written."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "anthropic_error",
    "anthropic_message",
    "anthropic_request_as_chat",
    "gemini_error",
    "gemini_model",
    "gemini_request_as_chat",
    "gemini_response",
]

_GEMINI_PATH = re.compile(r"/models/(?P<model>[^/:]+):generateContent$")


def gemini_model(path: str) -> str | None:
    """The model of a ``generateContent`` path, or None for any other path."""
    found = _GEMINI_PATH.search(path.split("?", 1)[0].rstrip("/"))
    return found["model"] if found else None


def anthropic_request_as_chat(request: Mapping[str, Any]) -> dict[str, Any]:
    """A messages-API request as the chat request the scripts match: user text blocks
    joined; tool results and tool uses only counted as turns."""
    messages = [
        {"role": m.get("role"), "content": _block_text(m.get("content"))}
        for m in request.get("messages") or []
        if isinstance(m, Mapping)
    ]
    return {"model": request.get("model"), "messages": messages, "vendor_request": dict(request)}


def gemini_request_as_chat(model: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """A ``generateContent`` request as the chat request the scripts match (Gemini calls
    the assistant ``model``)."""
    messages = []
    for content in request.get("contents") or []:
        if not isinstance(content, Mapping):
            continue
        role = "assistant" if content.get("role") == "model" else "user"
        text = " ".join(
            str(p["text"])
            for p in content.get("parts") or []
            if isinstance(p, Mapping) and "text" in p
        )
        messages.append({"role": role, "content": text})
    return {"model": model, "messages": messages, "vendor_request": dict(request)}


def _block_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(b.get("text", ""))
            for b in content
            if isinstance(b, Mapping) and b.get("type") == "text"
        )
    return ""


def anthropic_message(completion: Mapping[str, Any]) -> dict[str, Any]:
    """A scripted completion as the messages API answers it."""
    choice = completion["choices"][0]
    message = choice["message"]
    blocks: list[dict[str, Any]] = []
    if message.get("content"):
        blocks.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        blocks.append(
            {
                "type": "tool_use",
                "id": f"toolu_{call['id'].removeprefix('call_')}",
                "name": call["function"]["name"],
                "input": _arguments(call),
            }
        )
    usage = completion["usage"]
    read = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    written = usage.get("cache_creation_input_tokens", 0)
    return {
        "id": f"msg_{completion['id']}",
        "type": "message",
        "role": "assistant",
        "model": completion["model"],
        "content": blocks,
        "stop_reason": "tool_use" if message.get("tool_calls") else "end_turn",
        "stop_sequence": None,
        # Anthropic counts the prompt's cached parts apart from input_tokens.
        "usage": {
            "input_tokens": usage["prompt_tokens"] - read - written,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
            "output_tokens": usage["completion_tokens"],
        },
    }


def anthropic_error(status: int, body: Mapping[str, Any] | str) -> dict[str, Any] | str:
    """An error body as the messages API sends it (``overloaded_error`` for a 529/503)."""
    if isinstance(body, str):
        return body
    kind = "overloaded_error" if status in (503, 529) else "api_error"
    return {"type": "error", "error": {"type": kind, "message": body["error"]["message"]}}


def gemini_response(completion: Mapping[str, Any]) -> dict[str, Any]:
    """A scripted completion as ``generateContent`` answers it."""
    choice = completion["choices"][0]
    message = choice["message"]
    parts: list[dict[str, Any]] = []
    if message.get("content"):
        parts.append({"text": message["content"]})
    for call in message.get("tool_calls") or []:
        parts.append({"functionCall": {"name": call["function"]["name"], "args": _arguments(call)}})
    usage = completion["usage"]
    metadata = {
        "promptTokenCount": usage["prompt_tokens"],
        "candidatesTokenCount": usage["completion_tokens"],
        "totalTokenCount": usage["total_tokens"],
    }
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    if cached:
        # Gemini counts cached tokens inside promptTokenCount, and names them apart too.
        metadata["cachedContentTokenCount"] = cached
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": metadata,
        "modelVersion": completion["model"],
        "responseId": completion["id"],
    }


def gemini_error(status: int, body: Mapping[str, Any] | str) -> dict[str, Any] | str:
    """An error body as Google's APIs send it."""
    if isinstance(body, str):
        return body
    names = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
    return {
        "error": {
            "code": status,
            "message": body["error"]["message"],
            "status": names.get(status, "INTERNAL"),
        }
    }


def _arguments(call: Mapping[str, Any]) -> Any:
    try:
        return json.loads(call["function"]["arguments"])
    except ValueError:
        return {}
