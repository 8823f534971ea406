"""The scripted LLM's answers as OpenAI's Responses API gives them (``POST .../responses``,
streamed when the request asks), served beside the chat-completions endpoint
(tests/scripted_llm.py).

A request's ``input`` (a string, or a list of items: messages, the model's earlier
``function_call`` items, the program's ``function_call_output`` items) is read as a
chat-completions request so the same scripts answer it; the scripted completion is written
back as a ``response`` object: a ``reasoning`` item for a turn with reasoning, a ``message``
item with ``output_text`` for its text, a ``function_call`` item per tool call, and the
Responses usage (cached tokens inside ``input_tokens``, as OpenAI counts them). Errors keep
OpenAI's ``{"error": ...}`` body, as the API sends it. A request with ``"stream": true`` gets
the same response as the server-sent events OpenAI documents for it: ``response.created``,
each output item added, its text or arguments in one delta, done, then
``response.completed`` with the whole response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["is_responses_path", "response_events", "response_object", "responses_request_as_chat"]


def is_responses_path(path: str) -> bool:
    """Whether ``path`` (no query, no trailing slash) creates a response."""
    return path.endswith("/responses")


def responses_request_as_chat(request: Mapping[str, Any]) -> dict[str, Any]:
    """A Responses request as the chat request the scripts match: its messages with their
    text, a ``function_call`` as an assistant turn, a ``function_call_output`` as a tool
    message."""
    items = request.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    messages: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role"), "content": _text(item.get("content"))})
        elif kind == "function_call":
            messages.append({"role": "assistant", "content": None})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "content": str(item.get("output", ""))})
    return {
        "model": request.get("model"),
        "messages": messages,
        "vendor_request": dict(request),
    }


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def response_object(completion: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """A scripted chat completion as the Responses API's ``response`` object answering
    ``request`` (its tools and tool choice echoed, as the API does)."""
    serial = str(completion["id"]).removeprefix("chatcmpl-")
    message = completion["choices"][0]["message"]
    output: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        output.append(
            {
                "type": "reasoning",
                "id": f"rs_{serial}",
                "summary": [{"type": "summary_text", "text": message["reasoning_content"]}],
            }
        )
    if message.get("content"):
        output.append(
            {
                "type": "message",
                "id": f"msg_{serial}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": message["content"], "annotations": []}],
            }
        )
    for call in message.get("tool_calls") or []:
        output.append(
            {
                "type": "function_call",
                "id": f"fc_{call['id'].removeprefix('call_')}",
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
                "status": "completed",
            }
        )
    usage = completion["usage"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return {
        "id": f"resp_{serial}",
        "object": "response",
        "created_at": completion["created"],
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "model": completion["model"],
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "usage": {
            "input_tokens": usage["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": usage["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["total_tokens"],
        },
    }


def response_events(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``response`` (a :func:`response_object`) as the events of a streamed response, in
    order, each with its ``type`` and ``sequence_number``."""
    events: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    started = {**response, "status": "in_progress", "output": [], "usage": None}
    add("response.created", response=started)
    add("response.in_progress", response=started)
    for index, item in enumerate(response["output"]):
        at = {"output_index": index, "item_id": item["id"]}
        if item["type"] == "message":
            add("response.output_item.added", output_index=index,
                item={**item, "status": "in_progress", "content": []})  # fmt: skip
            for part_index, part in enumerate(item["content"]):
                empty = {**part, "text": ""}
                add("response.content_part.added", **at, content_index=part_index, part=empty)
                add("response.output_text.delta", **at, content_index=part_index,
                    delta=part["text"], logprobs=[])  # fmt: skip
                add("response.output_text.done", **at, content_index=part_index,
                    text=part["text"], logprobs=[])  # fmt: skip
                add("response.content_part.done", **at, content_index=part_index, part=part)
        elif item["type"] == "function_call":
            add("response.output_item.added", output_index=index,
                item={**item, "status": "in_progress", "arguments": ""})  # fmt: skip
            add("response.function_call_arguments.delta", **at, delta=item["arguments"])
            add("response.function_call_arguments.done", **at, arguments=item["arguments"])
        else:
            add("response.output_item.added", output_index=index, item=item)
        add("response.output_item.done", output_index=index, item=item)
    add("response.completed", response=dict(response))
    return events
