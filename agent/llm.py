"""One chat completion against an OpenAI-compatible server, as a small typed result.

Works with Ollama (``/v1``), llama.cpp's server, vLLM and OpenAI. Reasoning text
is taken from ``reasoning_content`` (vLLM, DeepSeek), ``reasoning`` (Ollama) or
``<think>`` blocks inside the content. Failures become :class:`ModelServerError`
with a message that says which server and what went wrong; retries are few and
bounded by the settings, so a server that is down fails the run quickly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from agent.errors import ModelServerError
from agent.llm_deadline import AnswerTooLarge, DeadlineTransport
from agent.settings import AgentSettings, without_credentials
from instrumentation.encoding import clean_text, safe_text

__all__ = ["ChatModel", "ModelTurn", "ToolCallRequest"]

_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


@dataclass(frozen=True)
class ToolCallRequest:
    """A tool call the model asked for; ``arguments`` is the JSON text it sent."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ModelTurn:
    """What one model call returned."""

    content: str
    reasoning: str | None
    tool_calls: tuple[ToolCallRequest, ...]
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    finish_reason: str | None
    refusal: str | None = None  # OpenAI's ``message.refusal``: why the model declined

    @property
    def thinking(self) -> str:
        """Reasoning and visible content together: what the step records as thinking."""
        return "\n\n".join(part for part in (self.reasoning, self.content) if part)

    def assistant_message(self) -> dict[str, Any]:
        """The turn as the ``assistant`` message of the conversation sent back next time."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        return message


class ChatModel:
    """An OpenAI client bound to the configured server, with bounded timeout and retries."""

    def __init__(self, settings: AgentSettings) -> None:
        # As messages, logs and the trail name the server: without the URL's credentials.
        self.base_url = without_credentials(settings.llm_base_url)
        self._timeout_s = settings.llm_timeout_s
        self._client = openai.OpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            # The time limit holds for the whole answer, not only between two reads.
            http_client=openai.DefaultHttpxClient(
                transport=DeadlineTransport(settings.llm_timeout_s),
                timeout=settings.llm_timeout_s,
            ),
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def complete(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], model: str
    ) -> ModelTurn:
        """One chat completion; raises :class:`ModelServerError` when it cannot be had."""
        options: dict[str, Any] = {"model": model, "messages": list(messages)}
        if tools:
            options |= {"tools": list(tools), "tool_choice": "auto"}
        try:
            completion = self._client.chat.completions.create(**options)
        except openai.APITimeoutError:
            raise ModelServerError(
                f"model server {self.base_url} did not answer within {self._timeout_s:g} s",
                base_url=self.base_url,
            ) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            if isinstance(cause, AnswerTooLarge):
                raise ModelServerError(
                    f"model server {self.base_url} sent an answer larger than "
                    f"{cause.limit // (1024 * 1024)} MiB; it was not read",
                    base_url=self.base_url,
                ) from None
            raise ModelServerError(
                f"model server {self.base_url} is unreachable: {cause}", base_url=self.base_url
            ) from None
        except openai.APIStatusError as exc:
            raise ModelServerError(
                f"model server {self.base_url} answered HTTP {exc.status_code}: "
                f"{_error_detail(exc)}",
                base_url=self.base_url,
                status_code=exc.status_code,
            ) from None
        except openai.OpenAIError as exc:
            raise ModelServerError(
                f"model server {self.base_url} sent an unusable answer: {exc}",
                base_url=self.base_url,
            ) from None
        return _turn(completion, self.base_url)


def _error_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
    return str(exc.message)[:500]


def _turn(completion: Any, base_url: str) -> ModelTurn:
    """The turn in ``completion``; an answer of the wrong shape is a :class:`ModelServerError`.

    The client builds the answer without validating it, so any field may hold any
    JSON: each is checked here, and text is made valid UTF-8 (lone surrogates
    replaced) before it reaches the trail or the caller.
    """

    def unusable(problem: str) -> ModelServerError:
        return ModelServerError(
            f"model server {base_url} sent an unusable answer: {problem}", base_url=base_url
        )

    choices = getattr(completion, "choices", None) or []
    if not isinstance(choices, list) or not choices:
        choices = []
    if not choices or getattr(choices[0], "message", None) is None:
        raise ModelServerError(
            f"model server {base_url} answered without a message (no choices)", base_url=base_url
        )
    choice = choices[0]
    message = choice.message
    if isinstance(message, dict | str | int | float | list):  # not parsed into a message
        raise unusable(f"the message is {_json_type(message)}, not an object")
    content = _content_text(getattr(message, "content", None), unusable)
    extra = getattr(message, "model_extra", None) or {}
    reasoning_parts = [
        safe_text(extra[key]) for key in ("reasoning_content", "reasoning") if extra.get(key)
    ]
    reasoning_parts += [block.strip() for block in _THINK_BLOCK.findall(content)]
    content = _THINK_BLOCK.sub("", content).strip()
    raw_calls = getattr(message, "tool_calls", None) or []
    if not isinstance(raw_calls, list):
        raise unusable(f"tool_calls is {_json_type(raw_calls)}, not a list")
    calls: list[ToolCallRequest] = []
    for index, call in enumerate(raw_calls):
        if isinstance(call, dict | str | int | float | list) or call is None:
            raise unusable(f"tool call {index} is {_json_type(call)}, not an object")
        function = getattr(call, "function", None)
        if function is None:
            continue  # not a function tool call (e.g. a custom tool); nothing to run
        if isinstance(function, dict | str | int | float | list):
            raise unusable(f"tool call {index} has a function that is {_json_type(function)}")
        call_id = getattr(call, "id", None)
        calls.append(
            ToolCallRequest(
                id=safe_text(call_id) if call_id else f"call_{index}",
                name=safe_text(getattr(function, "name", None) or ""),
                arguments=_arguments_text(getattr(function, "arguments", None)),
            )
        )
    refusal = getattr(message, "refusal", None)
    usage = getattr(completion, "usage", None)
    model = getattr(completion, "model", None)
    finish_reason = getattr(choice, "finish_reason", None)
    return ModelTurn(
        content=content,
        reasoning="\n\n".join(reasoning_parts) or None,
        tool_calls=tuple(calls),
        model=clean_text(model) if isinstance(model, str) and model else None,
        input_tokens=_count(getattr(usage, "prompt_tokens", None)),
        output_tokens=_count(getattr(usage, "completion_tokens", None)),
        finish_reason=clean_text(finish_reason) if isinstance(finish_reason, str) else None,
        refusal=clean_text(refusal) if isinstance(refusal, str) and refusal.strip() else None,
    )


def _content_text(content: Any, unusable: Callable[[str], ModelServerError]) -> str:
    """The message's text: a string, or the text parts of a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return clean_text(content)
    if isinstance(content, list):  # [{"type": "text", "text": "..."}], as OpenAI allows
        texts = []
        for part in content:
            text = part.get("text") if isinstance(part, dict) else getattr(part, "text", None)
            if isinstance(part, str):
                text = part
            if not isinstance(text, str):
                raise unusable(f"a content part is {_json_type(part)} without text")
            texts.append(clean_text(text))
        return "".join(texts)
    raise unusable(f"the message content is {_json_type(content)}, not text")


def _arguments_text(arguments: Any) -> str:
    """The arguments as JSON text, as the API sends them; an object some servers send, encoded."""
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        return clean_text(arguments)
    try:
        return clean_text(json.dumps(arguments, ensure_ascii=False))
    except (TypeError, ValueError):
        return safe_text(arguments)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
