"""The shared agent as a loop written by hand around more LLM clients than
``capture_llm_clients.py`` runs, traced only by the client's instrumentation, against the
scripted model's endpoint for the client: a loop inside a span of the program's own, the
same loop with no span around it, a failing model (inside the program's span), a lone call.
Writes ``<CLIENT>_<INSTRUMENTATION>.otlp`` and ``.expected.json``.

    VENV/bin/python -m tests.frameworks.captured.capture_more_clients CLIENT INSTRUMENTATION [OUT]

CLIENT is ``openai_responses`` (OpenAI's Responses API, ``OpenAI().responses.create`` with
function tools, the answer's output items sent back with a ``function_call_output`` item
each, as OpenAI's function-calling guide writes it; ``POST /v1/responses``),
``openai_responses_streamed`` (the same with ``stream=True``, the events read to the end and
the ``response.completed`` event's response used), ``mistral``
(``Mistral().chat.complete``, OpenAI's shapes on ``/v1/chat/completions``) or ``cohere``
(``cohere.ClientV2().chat``, tool results as documents; ``POST /v2/chat``) or ``bedrock``
(boto3's ``bedrock-runtime`` ``converse`` with ``endpoint_url`` at the scripted server,
``toolUse`` blocks answered by ``toolResult`` blocks; ``POST /model/{id}/converse``).
INSTRUMENTATION is ``openinference`` (OpenInference's instrumentor for that client) or
``otel`` (OpenLLMetry's, content traced). The OTel contrib
``opentelemetry-instrumentation-openai-v2`` (2.4b0) wraps chat completions and embeddings
only: it traces no Responses call. VENV holds the client, the instrumentation and
``opentelemetry-sdk`` (versions written into the expectations).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.frameworks.captured import capture_llm_clients as clients
from tests.frameworks.captured import hand_loop
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent
# A system prompt as Responses programs give one: apart from the conversation.
INSTRUCTIONS = "You answer weather questions with the tools you have."


def _client(
    packages: tuple[str, ...],
    ask: hand_loop.Ask,
    tool_message: hand_loop.ToolMessage,
    say: Callable[[str], str | None],
) -> clients.Client:
    client = clients.Client()
    client.packages = packages
    client.ask, client.tool_message, client.say = ask, tool_message, say
    return client


def openai_responses_client(
    llm: ScriptedLLM, model: str, *, streamed: bool = False
) -> clients.Client:
    from openai import OpenAI

    api = OpenAI(base_url=llm.base_url, api_key="none", max_retries=0)

    def create(**request: Any) -> Any:
        """``responses.create``; streamed, its events read to the end and the response
        the ``response.completed`` event carries."""
        if not streamed:
            return api.responses.create(**request)
        completed = None
        for event in api.responses.create(**request, stream=True):
            if event.type == "response.completed":
                completed = event.response
        assert completed is not None, "the stream ended without response.completed"
        return completed

    tools = [
        {"type": "function", "name": n, "description": d, "parameters": p}
        for n, d, p in clients.TOOLS
    ]

    def ask(items: list[dict[str, Any]]) -> hand_loop.Reply:
        response = create(model=model, instructions=INSTRUCTIONS, input=items, tools=tools)
        calls = [
            (item.call_id, item.name, json.loads(item.arguments))
            for item in response.output
            if item.type == "function_call"
        ]
        output = [item.model_dump(exclude_none=True) for item in response.output]
        return hand_loop.Reply(response.output_text or None, calls, output)

    def tool_message(call_id: str, name: str, result: str) -> dict[str, Any]:
        return {"type": "function_call_output", "call_id": call_id, "output": result}

    def say(task: str) -> str | None:
        return str(create(model=model, input=task).output_text)

    return _client(("openai",), ask, tool_message, say)


def mistral_client(llm: ScriptedLLM, model: str) -> clients.Client:
    try:
        from mistralai.client import Mistral  # mistralai 2 and later
    except ImportError:
        from mistralai import Mistral

    api = Mistral(api_key="none", server_url=llm.base_url.removesuffix("/v1"))

    def ask(messages: list[dict[str, Any]]) -> hand_loop.Reply:
        response = api.chat.complete(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            tools=hand_loop.TOOL_SCHEMAS,  # type: ignore[arg-type]
        )
        message = response.choices[0].message
        calls = [
            (c.id, c.function.name, _arguments(c.function.arguments))
            for c in message.tool_calls or []
        ]
        text = message.content if isinstance(message.content, str) else None
        return hand_loop.Reply(text or None, calls, message.model_dump(exclude_none=True))

    def tool_message(call_id: str, name: str, result: str) -> dict[str, Any]:
        return {"role": "tool", "name": name, "tool_call_id": call_id, "content": result}

    def say(task: str) -> str | None:
        response = api.chat.complete(model=model, messages=[{"role": "user", "content": task}])
        content = response.choices[0].message.content
        return content if isinstance(content, str) else None

    return _client(("mistralai",), ask, tool_message, say)


def cohere_client(llm: ScriptedLLM, model: str) -> clients.Client:
    import cohere

    api = cohere.ClientV2(api_key="none", base_url=llm.base_url.removesuffix("/v1"))
    no_retry: Any = {"max_retries": 0}

    def ask(messages: list[dict[str, Any]]) -> hand_loop.Reply:
        response = api.chat(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            tools=hand_loop.TOOL_SCHEMAS,  # type: ignore[arg-type]
            request_options=no_retry,
        )
        message = response.message
        calls = [
            (c.id, c.function.name, _arguments(c.function.arguments))
            for c in message.tool_calls or []
            if c.id and c.function and c.function.name
        ]
        text = "".join(p.text for p in message.content or [] if p.type == "text") or None
        asked = [c.model_dump(exclude_none=True) for c in message.tool_calls or []]
        sent = {"role": "assistant", "tool_plan": message.tool_plan, "tool_calls": asked}
        return hand_loop.Reply(text, calls, {k: v for k, v in sent.items() if v})

    def tool_message(call_id: str, name: str, result: str) -> dict[str, Any]:
        document = {"type": "document", "document": {"data": result}}
        return {"role": "tool", "tool_call_id": call_id, "content": [document]}

    def say(task: str) -> str | None:
        response = api.chat(
            model=model, messages=[{"role": "user", "content": task}], request_options=no_retry
        )
        return "".join(p.text for p in response.message.content or [] if p.type == "text")

    return _client(("cohere",), ask, tool_message, say)


def bedrock_client(llm: ScriptedLLM, model: str) -> clients.Client:
    import boto3
    from botocore.config import Config

    api = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=llm.base_url.removesuffix("/v1"),
        aws_access_key_id="none",
        aws_secret_access_key="none",  # noqa: S106 - the scripted server checks none
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    tool_config = {
        "tools": [
            {"toolSpec": {"name": n, "description": d, "inputSchema": {"json": p}}}
            for n, d, p in clients.TOOLS
        ]
    }

    def blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"role": m["role"], "content": [{"text": m["content"]}]}
            if isinstance(m["content"], str)
            else m
            for m in messages
        ]

    def ask(messages: list[dict[str, Any]]) -> hand_loop.Reply:
        response = api.converse(modelId=model, messages=blocks(messages), toolConfig=tool_config)
        message = response["output"]["message"]
        content = message["content"]
        text = "".join(b["text"] for b in content if "text" in b) or None
        calls = [
            (b["toolUse"]["toolUseId"], b["toolUse"]["name"], dict(b["toolUse"]["input"]))
            for b in content
            if "toolUse" in b
        ]
        return hand_loop.Reply(text, calls, message)

    def tool_message(call_id: str, name: str, result: str) -> dict[str, Any]:
        block = {"toolResult": {"toolUseId": call_id, "content": [{"text": result}]}}
        return {"role": "user", "content": [block]}

    def say(task: str) -> str | None:
        response = api.converse(
            modelId=model, messages=[{"role": "user", "content": [{"text": task}]}]
        )
        return "".join(b["text"] for b in response["output"]["message"]["content"] if "text" in b)

    return _client(("boto3", "botocore"), ask, tool_message, say)


def _arguments(arguments: Any) -> dict[str, Any]:
    parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    return dict(parsed or {})


def instrument(client_name: str, instrumentation: str, capture: Capture) -> tuple[str, ...]:
    """Turn the instrumentation on; the packages whose versions matter."""
    provider = capture.provider
    if instrumentation == "otel":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
    if client_name == "openai_responses_streamed":
        client_name = "openai_responses"
    if (client_name, instrumentation) == ("openai_responses", "openinference"):
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
        return ("openinference-instrumentation-openai",)
    if (client_name, instrumentation) == ("openai_responses", "otel"):
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OtelOpenAI

        OtelOpenAI().instrument(tracer_provider=provider)
        return ("opentelemetry-instrumentation-openai",)
    if (client_name, instrumentation) == ("mistral", "openinference"):
        from openinference.instrumentation.mistralai import MistralAIInstrumentor

        MistralAIInstrumentor().instrument(tracer_provider=provider)
        return ("openinference-instrumentation-mistralai",)
    if (client_name, instrumentation) == ("mistral", "otel"):
        from opentelemetry.instrumentation.mistralai import MistralAiInstrumentor

        MistralAiInstrumentor().instrument(tracer_provider=provider)
        return ("opentelemetry-instrumentation-mistralai",)
    if (client_name, instrumentation) == ("cohere", "openinference"):
        from openinference.instrumentation.cohere import CohereInstrumentor

        CohereInstrumentor().instrument(tracer_provider=provider)
        return ("openinference-instrumentation-cohere",)
    if (client_name, instrumentation) == ("cohere", "otel"):
        from opentelemetry.instrumentation.cohere import CohereInstrumentor as OtelCohere

        OtelCohere().instrument(tracer_provider=provider)
        return ("opentelemetry-instrumentation-cohere",)
    if (client_name, instrumentation) == ("bedrock", "openinference"):
        from openinference.instrumentation.bedrock import BedrockInstrumentor

        BedrockInstrumentor().instrument(tracer_provider=provider)
        return ("openinference-instrumentation-bedrock",)
    if (client_name, instrumentation) == ("bedrock", "otel"):
        from opentelemetry.instrumentation.bedrock import BedrockInstrumentor as OtelBedrock

        OtelBedrock().instrument(tracer_provider=provider)
        return ("opentelemetry-instrumentation-bedrock",)
    raise SystemExit(f"unknown client and instrumentation {client_name!r} {instrumentation!r}")


CLIENTS: dict[str, Callable[[ScriptedLLM, str], clients.Client]] = {
    "openai_responses": openai_responses_client,
    "openai_responses_streamed": lambda llm, model: openai_responses_client(
        llm, model, streamed=True
    ),
    "mistral": mistral_client,
    "cohere": cohere_client,
    "bedrock": bedrock_client,
}


if __name__ == "__main__":
    clients.main(
        sys.argv[1],
        sys.argv[2],
        Path(sys.argv[3]) if len(sys.argv) > 3 else HERE,
        clients=CLIENTS,
        turn_on=instrument,
    )
