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
    """``model`` is the requested name; ``base_url`` the scripted server's."""

    base_url: str

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        request: dict[str, Any] = {"model": self.model, "messages": _messages(llm_request)}
        tools = _tools(llm_request)
        if tools:
            request["tools"] = tools
        # A client per call, closed before the caller's event loop is.
        async with AsyncOpenAI(
            base_url=self.base_url, api_key="sk-scripted", max_retries=0
        ) as client:
            completion = await client.chat.completions.create(**request)
        yield _response(completion)


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
    usage = completion.usage
    return LlmResponse(
        content=types.Content(role="model", parts=parts),
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=usage.prompt_tokens,
            candidates_token_count=usage.completion_tokens,
            total_token_count=usage.total_tokens,
        ),
    )
