"""LangChain messages in the shapes its instrumentations serialise them. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.cut_values import cut_json_string
from collector.messages import as_text, loads

__all__ = [
    "INVALID_TOOL",
    "lc_messages",
    "first_user_text",
    "turn_user_text",
    "final_answer",
    "tool_message",
    "served_model",
    "last_tool_calls",
    "node_tool_calls",
    "handed_tool_calls",
    "reply_for_call",
    "is_command",
]

# What LangGraph's ToolNode answers a call of a tool it does not have (no tool span runs):
# "Error: get_wether is not a valid tool, try one of [get_weather, ...]." (a ToolMessage).
INVALID_TOOL = re.compile(r"^Error: (.+) is not a valid tool, try one of \[")
# LangGraph.js's ``Send`` to the tools node: the state plus the one call to run.
LG_TOOL_CALL = "lg_tool_call"

_ROLES = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "tool": "tool",
    "system": "system",
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "ToolMessage": "tool",
    "SystemMessage": "system",
}


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content or None
    if isinstance(content, list):
        texts = [
            str(block.get("text"))
            for block in content
            if isinstance(block, Mapping) and block.get("type") == "text" and block.get("text")
        ]
        texts += [block for block in content if isinstance(block, str) and block]
        return "\n".join(texts) or None
    return None


def _refusal(body: Mapping[str, Any]) -> str | None:
    """The model's refusal in place of an answer: OpenAI's ``message.refusal``, which
    langchain-openai keeps in the AI message's ``additional_kwargs``."""
    extra = body.get("additional_kwargs")
    refusal = extra.get("refusal") if isinstance(extra, Mapping) else None
    return refusal if isinstance(refusal, str) and refusal else None


def _one(message: Any) -> dict[str, Any] | None:
    """{"role", "text", "tool_calls", "status"} of one message in any LangChain form."""
    if isinstance(message, (list, tuple)) and len(message) == 2:  # ("user", "text")
        return {"role": _ROLES.get(str(message[0])), "text": _content_text(message[1])}
    if not isinstance(message, Mapping):
        return None
    body: Mapping[str, Any] = message
    role = message.get("role")
    if "data" in message and isinstance(message["data"], Mapping):  # messages_to_dict
        body, role = message["data"], message.get("type")
    elif message.get("lc") == 1 and isinstance(message.get("kwargs"), Mapping):  # dumpd
        ids = message.get("id") or []
        body, role = message["kwargs"], ids[-1] if ids else message["kwargs"].get("type")
    elif role is None:
        role = message.get("type")
    role = _ROLES.get(str(role), str(role))
    text = _content_text(body.get("content"))
    if text is None and role == "assistant":
        text = _refusal(body)
    elif text is None and role == "tool" and body.get("content") == "":
        text = ""  # a tool that returned nothing: its result is empty, not missing
    return {
        "role": role,
        "text": text,
        "tool_calls": bool(body.get("tool_calls")),
        "status": body.get("status"),
        "tool_call_id": body.get("tool_call_id"),
        "name": body.get("name"),
    }


def state(value: Any) -> Mapping[str, Any]:
    """A graph state, unwrapped from OpenLLMetry's "outputs" ({} when it is none)."""
    parsed = loads(value)
    for key in ("inputs", "outputs", "output"):
        if isinstance(parsed, Mapping) and key in parsed:
            parsed = parsed[key]
    return parsed if isinstance(parsed, Mapping) else {}


def lc_messages(value: Any) -> list[dict[str, Any]]:
    """The messages of a graph state / invoke input: {"messages": [...]}, possibly under
    "inputs" / "outputs" (OpenLLMetry), or a bare list."""
    parsed = loads(value)
    for key in ("inputs", "outputs", "output"):
        if isinstance(parsed, Mapping) and key in parsed:
            parsed = parsed[key]
    if isinstance(parsed, Mapping):
        parsed = parsed.get("messages")
    if not isinstance(parsed, list):
        return []
    return [m for m in (_one(item) for item in parsed) if m is not None]


def first_user_text(value: Any) -> str | None:
    """The first user message's text."""
    return next((m["text"] for m in lc_messages(value) if m["role"] == "user" and m["text"]), None)


def turn_user_text(value: Any) -> str | None:
    """The user message that opened the current turn: the first after the last assistant
    message (an invoke input may carry the conversation so far), else the last one."""
    messages = lc_messages(value)
    replies = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    users = [(i, m["text"]) for i, m in enumerate(messages) if m["role"] == "user" and m["text"]]
    after = [text for i, text in users if i > (replies[-1] if replies else -1)]
    if after:
        return str(after[0])
    return str(users[-1][1]) if users else None


def is_command(value: Any) -> bool:
    """A graph invoked with a ``Command`` (``resume``, ``update``, ``goto``) instead of
    input: what OpenInference records as the run's input then."""
    parsed = loads(value)
    return isinstance(parsed, Mapping) and {"resume", "goto"} <= set(parsed)


def final_answer(value: Any) -> str | None:
    """The graph's answer: its ``structured_response`` (an agent with a response format,
    as JSON), else the last assistant message's text when it asked for no tool, or the
    result of a tool that returns directly (``return_direct``: the graph ends on it). An
    assistant that answered with no text answered ``""``."""
    structured = state(value).get("structured_response")
    if structured is not None:
        return structured if isinstance(structured, str) else as_text(structured)
    messages = lc_messages(value)
    if messages and messages[-1]["role"] == "tool":  # a tool with return_direct ended it
        return str(messages[-1]["text"]) if messages[-1]["text"] else None
    if not messages or messages[-1]["role"] != "assistant" or messages[-1]["tool_calls"]:
        return None
    return str(messages[-1]["text"] or "")


def tool_message(value: Any) -> dict[str, Any] | None:
    """A serialised ``ToolMessage`` (a tool's output): its text, status and call id. A tool
    that returns a ``Command`` (a hand-off to another node: ``goto``, ``update``) answers
    with the last tool message of its update ("Transferred to researcher")."""
    parsed = loads(value)
    if isinstance(parsed, Mapping) and "output" in parsed:  # OpenLLMetry wraps it
        parsed = parsed["output"]
    update = parsed.get("update") if isinstance(parsed, Mapping) else None
    if isinstance(update, Mapping) and isinstance(update.get("messages"), list):
        replies = [m for m in map(_one, update["messages"]) if m and m["role"] == "tool"]
        return replies[-1] if replies else None
    cut = cut_json_string(parsed, ("content",))  # a long output, cut to a preview
    if cut is not None:
        return {"role": "tool", "text": cut, "tool_calls": False, "status": None}
    found = _one(parsed)
    return found if found and found["role"] == "tool" else None


def served_model(value: Any) -> str | None:
    """The model the server named, from a chat model's serialised result
    (``{"generations": [[{"generation_info": {"model_name": ...}}]]}``; a streamed call
    records it only there), else from the answer message's ``response_metadata`` (all
    LangChain.js records: its generations have no ``generation_info``)."""
    result = loads(value)
    rows = result.get("generations") if isinstance(result, Mapping) else None
    generations = [
        generation
        for row in (rows if isinstance(rows, list) else [])
        for generation in (row if isinstance(row, list) else [])
        if isinstance(generation, Mapping)
    ]
    for generation in generations:
        info = generation.get("generation_info")
        if isinstance(info, Mapping) and info.get("model_name"):
            return str(info["model_name"])
    for generation in generations:
        message = generation.get("message")
        body = message.get("kwargs") if isinstance(message, Mapping) else None
        metadata = body.get("response_metadata") if isinstance(body, Mapping) else None
        if isinstance(metadata, Mapping) and metadata.get("model_name"):
            return str(metadata["model_name"])
    return None


def last_tool_calls(value: Any) -> list[Any]:
    """The tool calls of a graph state's last AI message (``[]`` when it made none)."""
    parsed = state(value).get("messages")
    for message in reversed(parsed if isinstance(parsed, list) else []):
        one = _one(message)
        if not isinstance(message, Mapping) or one is None or one["role"] != "assistant":
            continue
        body = message.get("data") or message.get("kwargs") or message
        calls = body.get("tool_calls") if isinstance(body, Mapping) else None
        return list(calls) if isinstance(calls, list) else []
    return []


def handed_tool_calls(node_input: Any) -> bool:
    """Whether a node's input is tool calls handed to it (a ``tools`` node's: the list of
    calls, or one call with its context), not a graph state."""
    if isinstance(node_input, list):
        return bool(node_input) and all(
            isinstance(c, Mapping) and "name" in c and "args" in c for c in node_input
        )
    return isinstance(node_input, Mapping) and any(
        isinstance(node_input.get(key), Mapping) for key in ("tool_call", LG_TOOL_CALL)
    )


def node_tool_calls(node_input: Any) -> list[Any]:
    """The tool calls a ``tools`` node received: a list of them (``create_agent``), one with
    its context (``{"tool_call": ..., "state": ...}``, the prebuilt ``ToolNode``;
    LangGraph.js's ``Send`` of the state and ``lg_tool_call``), or the state, whose last AI
    message holds them. OpenLLMetry's ``{"inputs": ...}`` wrapper is taken off."""
    if isinstance(node_input, Mapping) and "inputs" in node_input:
        node_input = node_input["inputs"]
    if isinstance(node_input, list):
        return node_input
    if not isinstance(node_input, Mapping):
        return []
    for key in ("tool_call", LG_TOOL_CALL):
        if isinstance(node_input.get(key), Mapping):
            return [node_input[key]]
    return last_tool_calls(node_input)


def reply_for_call(node_output: Any, tool: Any, call_id: Any) -> str | None:
    """The text of the one tool message a ``tools`` node returned for a call (by its id,
    else by the tool's name): what the model was told of it. None unless exactly one."""
    replies = [m for m in lc_messages(node_output) if m["role"] == "tool"]
    if call_id:
        replies = [m for m in replies if m.get("tool_call_id") == call_id]
    else:
        replies = [m for m in replies if m.get("name") == tool]
    if len(replies) != 1 or replies[0]["text"] is None:
        return None
    return str(replies[0]["text"])
