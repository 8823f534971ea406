"""The scripted LLM's answers as Amazon Bedrock's Converse API gives them
(``POST /model/{modelId}/converse``, not streamed), served beside the chat-completions
endpoint (tests/scripted_llm.py), for boto3's ``bedrock-runtime`` client pointed at it with
``endpoint_url``.

A request's messages (content blocks: ``text``, the model's ``toolUse``, and the
``toolResult`` blocks a user message sends back) are read as a chat-completions request so
the same scripts answer it; the scripted completion is written back as Converse's output:
the assistant message's ``text`` and ``toolUse`` blocks, ``stopReason`` ``tool_use`` or
``end_turn``, and the usage with cache reads and writes apart from ``inputTokens``, as
Bedrock counts them. An error is Bedrock's ``{"message": ...}`` with its ``__type``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

__all__ = ["converse_error", "converse_model", "converse_request_as_chat", "converse_response"]

_CONVERSE_PATH = re.compile(r"^/model/(?P<model>[^/]+)/converse$")
# Bedrock's exception names by HTTP status, as boto3 raises them.
_ERRORS = {
    400: "ValidationException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}


def converse_model(path: str) -> str | None:
    """The model id of a Converse path, or None for any other path."""
    found = _CONVERSE_PATH.match(path)
    return unquote(found["model"]) if found else None


def converse_request_as_chat(model: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """A Converse request as the chat request the scripts match: text blocks joined; a
    user message made of tool results a ``tool`` message."""
    messages = []
    for message in request.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        blocks = [b for b in message.get("content") or [] if isinstance(b, Mapping)]
        text = " ".join(str(b["text"]) for b in blocks if "text" in b)
        role = message.get("role")
        if role == "user" and blocks and all("toolResult" in b for b in blocks):
            role = "tool"
        messages.append({"role": role, "content": text})
    return {"model": model, "messages": messages, "vendor_request": dict(request)}


def converse_response(completion: Mapping[str, Any], _request: Mapping[str, Any]) -> dict[str, Any]:
    """A scripted completion as the Converse API answers it."""
    message = completion["choices"][0]["message"]
    blocks: list[dict[str, Any]] = []
    if message.get("content"):
        blocks.append({"text": message["content"]})
    for call in message.get("tool_calls") or []:
        try:
            arguments = json.loads(call["function"]["arguments"])
        except ValueError:
            arguments = {}
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": f"tooluse_{call['id'].removeprefix('call_')}",
                    "name": call["function"]["name"],
                    "input": arguments,
                }
            }
        )
    usage = completion["usage"]
    read = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    written = usage.get("cache_creation_input_tokens", 0)
    counted: dict[str, Any] = {
        "inputTokens": usage["prompt_tokens"] - read - written,
        "outputTokens": usage["completion_tokens"],
        "totalTokens": usage["total_tokens"],
    }
    if read:
        counted["cacheReadInputTokens"] = read
    if written:
        counted["cacheWriteInputTokens"] = written
    return {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": "tool_use" if message.get("tool_calls") else "end_turn",
        "usage": counted,
        "metrics": {"latencyMs": 10},
    }


def converse_error(status: int, body: Mapping[str, Any] | str) -> dict[str, Any] | str:
    """An error body as Bedrock sends it; boto3 names the exception after ``__type``."""
    if isinstance(body, str):
        return body
    kind = _ERRORS.get(status, "InternalServerException")
    return {"__type": kind, "message": body["error"]["message"]}
