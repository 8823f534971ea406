"""One chat completion against an OpenAI-compatible server, as a small typed result.

Works with Ollama (``/v1``), llama.cpp's server, vLLM and OpenAI. Reasoning text
is taken from ``reasoning_content`` (vLLM, DeepSeek), ``reasoning`` (Ollama) or
``<think>`` blocks inside the content. Failures become :class:`ModelServerError`
with a message that says which server and what went wrong; retries are few and
bounded by the settings, so a server that is down fails the run quickly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai

from agent.errors import ModelServerError
from agent.settings import AgentSettings

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
        self.base_url = settings.llm_base_url
        self._timeout_s = settings.llm_timeout_s
        self._client = openai.OpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
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
    choices = getattr(completion, "choices", None) or []
    if not choices or getattr(choices[0], "message", None) is None:
        raise ModelServerError(
            f"model server {base_url} answered without a message (no choices)", base_url=base_url
        )
    choice = choices[0]
    message = choice.message
    content = message.content or ""
    extra = message.model_extra or {}
    reasoning_parts = [
        str(extra[key]) for key in ("reasoning_content", "reasoning") if extra.get(key)
    ]
    reasoning_parts += [block.strip() for block in _THINK_BLOCK.findall(content)]
    content = _THINK_BLOCK.sub("", content).strip()
    calls: list[ToolCallRequest] = []
    for index, call in enumerate(message.tool_calls or []):
        function = getattr(call, "function", None)
        if function is None:
            continue  # not a function tool call (e.g. a custom tool); nothing to run
        calls.append(
            ToolCallRequest(
                id=getattr(call, "id", None) or f"call_{index}",
                name=str(function.name or ""),
                arguments=function.arguments or "",
            )
        )
    usage = getattr(completion, "usage", None)
    return ModelTurn(
        content=content,
        reasoning="\n\n".join(reasoning_parts) or None,
        tool_calls=tuple(calls),
        model=getattr(completion, "model", None) or None,
        input_tokens=_count(getattr(usage, "prompt_tokens", None)),
        output_tokens=_count(getattr(usage, "completion_tokens", None)),
        finish_reason=getattr(choice, "finish_reason", None),
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
