"""The scripted LLM's answers as Cohere's v2 chat API gives them (``POST /v2/chat``, not
streamed), served beside the chat-completions endpoint (tests/scripted_llm.py).

A request's messages (text as a string or as text parts; an assistant turn with its
``tool_calls``; a ``tool`` message answering one by ``tool_call_id``) are read as a
chat-completions request so the same scripts answer it; the scripted completion is written
back as Cohere's chat response: the assistant ``message`` with its text as content parts,
its ``tool_calls`` (arguments as JSON text) and, for a turn with reasoning, the
``tool_plan`` Cohere's models write before calling tools; ``finish_reason`` ``TOOL_CALL`` or
``COMPLETE``; the usage as tokens and billed units. An error is Cohere's ``{"message": ...}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cohere_error", "cohere_model", "cohere_request_as_chat", "cohere_response"]


def cohere_model(path: str) -> str | None:
    """``""`` for the v2 chat path (the body names the model), None for any other path."""
    return "" if path == "/v2/chat" else None


def cohere_request_as_chat(_path_model: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """A v2 chat request as the chat request the scripts match."""
    messages = []
    for message in request.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        messages.append({"role": message.get("role"), "content": _text(message.get("content"))})
    return {"model": request.get("model"), "messages": messages, "vendor_request": dict(request)}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def cohere_response(completion: Mapping[str, Any], _request: Mapping[str, Any]) -> dict[str, Any]:
    """A scripted completion as the v2 chat API answers it."""
    message = completion["choices"][0]["message"]
    answer: dict[str, Any] = {"role": "assistant"}
    if message.get("reasoning_content"):
        answer["tool_plan"] = message["reasoning_content"]
    if message.get("tool_calls"):
        answer["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {
                    "name": call["function"]["name"],
                    "arguments": call["function"]["arguments"],
                },
            }
            for call in message["tool_calls"]
        ]
    if message.get("content"):
        answer["content"] = [{"type": "text", "text": message["content"]}]
    usage = completion["usage"]
    counted = {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]}
    return {
        "id": f"cohere-{completion['id']}",
        "finish_reason": "TOOL_CALL" if message.get("tool_calls") else "COMPLETE",
        "message": answer,
        "usage": {"billed_units": dict(counted), "tokens": dict(counted)},
    }


def cohere_error(_status: int, body: Mapping[str, Any] | str) -> dict[str, Any] | str:
    """An error body as Cohere's API sends it."""
    return body if isinstance(body, str) else {"message": body["error"]["message"]}
