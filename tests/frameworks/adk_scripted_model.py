"""A Google ADK model (``BaseLlm``) that talks chat completions to the scripted server.

ADK reaches non-Gemini models through ``BaseLlm`` subclasses (its own ``LiteLlm`` is one);
this one converts ADK's request (``google.genai`` contents and function declarations) to
OpenAI messages and tools, and the answer back. ADK traces around the model call, so the
spans are ADK's whatever the model class.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types
from openai import AsyncOpenAI


class ScriptedChatModel(BaseLlm):
    """``model`` is the requested name; ``base_url`` the scripted server's; ``max_retries``
    the OpenAI client's (none unless asked: ADK retries no model call itself)."""

    base_url: str
    max_retries: int = 0

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        request: dict[str, Any] = {"model": self.model, "messages": _messages(llm_request)}
        tools = _tools(llm_request)
        if tools:
            request["tools"] = tools
        # A client per call, closed before the caller's event loop is.
        async with AsyncOpenAI(
            base_url=self.base_url, api_key="sk-scripted", max_retries=self.max_retries
        ) as client:
            if stream:  # RunConfig(streaming_mode=SSE): text as it comes, then the whole turn
                async for response in _streamed(client, request):
                    yield response
                return
            completion = await client.chat.completions.create(**request)
        yield _response(completion)


async def _streamed(
    client: AsyncOpenAI, request: dict[str, Any]
) -> AsyncGenerator[LlmResponse, None]:
    """Partial responses for the text deltas, then one with the whole turn and its usage,
    as ADK's own models stream."""
    text: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    usage = None
    chunks = await client.chat.completions.create(
        **request, stream=True, stream_options={"include_usage": True}
    )
    async for chunk in chunks:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            if choice.delta.content:
                text.append(choice.delta.content)
                part = types.Part(text=choice.delta.content)
                yield LlmResponse(content=types.Content(role="model", parts=[part]), partial=True)
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                if call.function is not None:
                    entry["name"] += call.function.name or ""
                    entry["arguments"] += call.function.arguments or ""
    parts = [types.Part(text="".join(text))] if text else []
    parts += [
        types.Part(
            function_call=types.FunctionCall(
                id=c["id"], name=c["name"], args=json.loads(c["arguments"] or "{}")
            )
        )
        for _, c in sorted(calls.items())
    ]
    yield LlmResponse(
        content=types.Content(role="model", parts=parts), usage_metadata=_usage(usage)
    )


def _messages(llm_request: LlmRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instruction = llm_request.config.system_instruction if llm_request.config else None
    if isinstance(instruction, str) and instruction:
        messages.append({"role": "system", "content": instruction})
    for content in llm_request.contents:
        texts = [p.text for p in content.parts or [] if p.text]
        calls = [p.function_call for p in content.parts or [] if p.function_call]
        results = [p.function_response for p in content.parts or [] if p.function_response]
        if content.role == "model":
            message: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) or None}
            if calls:
                message["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.args)},
                    }
                    for call in calls
                ]
            messages.append(message)
        elif results:
            messages.extend(
                {"role": "tool", "tool_call_id": r.id, "content": json.dumps(r.response)}
                for r in results
            )
        elif texts:
            messages.append({"role": "user", "content": "\n".join(texts)})
    return messages


def _tools(llm_request: LlmRequest) -> list[dict[str, Any]]:
    declarations = [
        declaration
        for tool in (llm_request.config.tools if llm_request.config else None) or []
        for declaration in getattr(tool, "function_declarations", None) or []
    ]
    return [
        {
            "type": "function",
            "function": {
                "name": d.name,
                "description": d.description or "",
                "parameters": d.parameters.model_dump(exclude_none=True, mode="json")
                if d.parameters
                else {"type": "object", "properties": {}},
            },
        }
        for d in declarations
    ]


def _response(completion: Any) -> LlmResponse:
    message = completion.choices[0].message
    parts: list[types.Part] = []
    if message.content:
        parts.append(types.Part(text=message.content))
    for call in message.tool_calls or []:
        parts.append(
            types.Part(
                function_call=types.FunctionCall(
                    id=call.id, name=call.function.name, args=json.loads(call.function.arguments)
                )
            )
        )
    return LlmResponse(
        content=types.Content(role="model", parts=parts), usage_metadata=_usage(completion.usage)
    )


def _usage(usage: Any) -> types.GenerateContentResponseUsageMetadata | None:
    if usage is None:
        return None
    return types.GenerateContentResponseUsageMetadata(
        prompt_token_count=usage.prompt_tokens,
        candidates_token_count=usage.completion_tokens,
        total_token_count=usage.total_tokens,
    )
