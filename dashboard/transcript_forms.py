"""A model call's messages in the forms frameworks use besides the GenAI attributes; pure.

Each reader takes the span's attributes and the span as ``GET /spans/{trace}/{span}``
returns it (events, scope, name), and returns ``(prompt, completion)``: lists of
OpenAI-style chat dicts (``role``, ``content``, ``tool_calls``, ``tool_call_id``) that
:mod:`dashboard.transcript` turns into messages. Read here:

- GenAI span events (``gen_ai.user.message`` ... ``gen_ai.choice``, the
  ``gen_ai.content.prompt`` / ``completion`` events, the operation-details event;
  Strands, OpenLIT), or the same events as a JSON list in an ``events`` attribute
  (pydantic-ai 1.0) and LiteLLM's raw request keys: read by the collector
  (collector/span_chat.py) and sent as the span's ``model_messages``, so the dashboard
  shows what the collector read;
- Google ADK's ``gcp.vertex.agent.llm_request`` / ``llm_response`` (Gemini contents);
- the Vercel AI SDK's ``ai.prompt.messages``, ``ai.response.text``, ``ai.response.toolCalls``;
- Langfuse's ``langfuse.observation.input`` / ``output`` of a generation;
- MLflow's ``mlflow.spanInputs`` / ``mlflow.spanOutputs`` (a chat request and response).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from dashboard.json_reading import json_or_text as loads

__all__ = ["FORMS", "Chat"]

Chat = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def _dicts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, Mapping):
        value = [value]
    return [dict(m) for m in value if isinstance(m, Mapping)] if isinstance(value, list) else []


def _genai_events(attrs: Mapping[str, Any], span: Mapping[str, Any]) -> Chat:
    """What the collector read of the call (its ``model_messages``, collector/span_chat.py)."""
    read = span.get("model_messages")
    read = read if isinstance(read, Mapping) else {}

    def chat(message: dict[str, Any]) -> dict[str, Any]:
        # The collector's shape names a tool answer's call ``id`` and a call's fields flat.
        if message.get("role") == "tool" and "tool_call_id" not in message:
            message = {**message, "tool_call_id": message.get("id")}
        return message

    return (
        [chat(m) for m in _dicts(read.get("input"))],
        [chat(m) for m in _dicts(read.get("output"))],
    )


def _gemini(content: Any) -> dict[str, Any] | None:
    """One Gemini ``Content`` (``role`` user/model, ``parts``) as a chat message."""
    if not isinstance(content, Mapping):
        return None
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    answered: Any = None
    for part in content.get("parts") or []:
        if not isinstance(part, Mapping):
            continue
        call = part.get("function_call") or part.get("functionCall")
        response = part.get("function_response") or part.get("functionResponse")
        if isinstance(call, Mapping):
            calls.append(
                {"id": call.get("id"), "name": call.get("name"), "arguments": call.get("args")}
            )
        elif isinstance(response, Mapping):
            answered = response.get("id") or response.get("name")
            texts.append(json.dumps(response.get("response"), ensure_ascii=False, indent=2))
        elif part.get("text"):
            texts.append(str(part["text"]))
    role = "assistant" if content.get("role") == "model" else str(content.get("role") or "user")
    if answered is not None:
        role = "tool"
    return {
        "role": role,
        "content": "\n".join(texts),
        "tool_calls": calls,
        "tool_call_id": answered,
    }


def _google_adk(attrs: Mapping[str, Any], span: Mapping[str, Any]) -> Chat:
    request = loads(attrs.get("gcp.vertex.agent.llm_request"))
    response = loads(attrs.get("gcp.vertex.agent.llm_response"))
    prompt: list[dict[str, Any]] = []
    if isinstance(request, Mapping):
        config = request.get("config")
        system = config.get("system_instruction") if isinstance(config, Mapping) else None
        if system:
            prompt.append({"role": "system", "content": _text(system)})
        contents = request.get("contents")
        for content in contents if isinstance(contents, list) else []:
            message = _gemini(content)
            if message is not None:
                prompt.append(message)
    answer = _gemini(response.get("content")) if isinstance(response, Mapping) else None
    return prompt, [answer] if answer else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


def _ai_sdk_message(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An AI SDK model message: ``content`` a string or typed parts (text, tool-call,
    tool-result; ``args``/``result`` before AI SDK 5, ``input``/``output`` since)."""
    content = raw.get("content")
    if not isinstance(content, list):
        return {"role": raw.get("role"), "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    answered: Any = None
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "tool-call":
            arguments = part.get("input", part.get("args"))
            calls.append(
                {"id": part.get("toolCallId"), "name": part.get("toolName"), "arguments": arguments}
            )
        elif kind == "tool-result":
            answered = part.get("toolCallId")
            output = part.get("output", part.get("result"))
            if isinstance(output, Mapping) and "value" in output and "type" in output:
                output = output["value"]  # AI SDK 5 wraps a result as {type, value}
            texts.append(_text(output))
        elif part.get("text") is not None:
            texts.append(str(part["text"]))
    role = "tool" if answered is not None else raw.get("role")
    return {
        "role": role,
        "content": "\n".join(texts),
        "tool_calls": calls,
        "tool_call_id": answered,
    }


def _ai_sdk(attrs: Mapping[str, Any], span: Mapping[str, Any]) -> Chat:
    prompt = [_ai_sdk_message(m) for m in _dicts(loads(attrs.get("ai.prompt.messages")))]
    text = attrs.get("ai.response.text")
    calls = [
        {
            "id": c.get("toolCallId"),
            "name": c.get("toolName"),
            "arguments": c.get("input", c.get("args")),
        }
        for c in _dicts(loads(attrs.get("ai.response.toolCalls")))
    ]
    answer = [{"role": "assistant", "content": text, "tool_calls": calls}] if text or calls else []
    return prompt, answer


def _request_messages(value: Any) -> list[dict[str, Any]]:
    """A chat request's messages: the list itself, under ``messages``, or (a decorated
    function's ``{args, kwargs}``) the argument that is a list of messages."""
    value = loads(value)
    candidates: list[Any] = [value]
    if isinstance(value, Mapping) and set(value) == {"args", "kwargs"}:
        args, kwargs = value.get("args"), value.get("kwargs")
        candidates = [*(args if isinstance(args, list) else [])]
        candidates += list(kwargs.values()) if isinstance(kwargs, Mapping) else []
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            candidate = candidate.get("messages")
        messages = _dicts(candidate) if isinstance(candidate, list) else []
        if messages and any("role" in m for m in messages):
            return messages
    return []


def _response_messages(value: Any) -> list[dict[str, Any]]:
    """A chat response: an OpenAI completion (its choices), a message, or plain text."""
    value = loads(value)
    if isinstance(value, Mapping) and isinstance(value.get("choices"), list):
        return [
            {**c["message"], "finish_reason": c.get("finish_reason")}
            for c in value["choices"]
            if isinstance(c, Mapping) and isinstance(c.get("message"), Mapping)
        ]
    if isinstance(value, Mapping) and ("role" in value or "content" in value):
        return [dict(value)]
    if isinstance(value, str) and value:
        return [{"role": "assistant", "content": value}]
    return []


def _langfuse(attrs: Mapping[str, Any], span: Mapping[str, Any]) -> Chat:
    if attrs.get("langfuse.observation.type") != "generation":
        return [], []
    return (
        _request_messages(attrs.get("langfuse.observation.input")),
        _response_messages(attrs.get("langfuse.observation.output")),
    )


def _mlflow(attrs: Mapping[str, Any], span: Mapping[str, Any]) -> Chat:
    prompt = _request_messages(attrs.get("mlflow.spanInputs"))
    if not prompt:
        return [], []
    return prompt, _response_messages(attrs.get("mlflow.spanOutputs"))


# (source shown to the reader, reader), tried in this order after the GenAI attributes
# and OpenInference's keys.
FORMS: tuple[tuple[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Chat]], ...] = (
    ("GenAI events or LiteLLM request", _genai_events),
    ("Google ADK llm_request / llm_response", _google_adk),
    ("Vercel AI SDK ai.prompt / ai.response", _ai_sdk),
    ("Langfuse observation input / output", _langfuse),
    ("MLflow spanInputs / spanOutputs", _mlflow),
)
