"""The shared agent as a loop written by hand around a vendor's own LLM client, traced only by
that client's instrumentation, against the scripted model's endpoint for the vendor: a loop
inside a span of the program's own, the same loop with no span around it, a failing model
(inside the program's span), a lone call. Writes ``<CLIENT>_<INSTRUMENTATION>.otlp`` and
``.expected.json``.

    VENV/bin/python -m tests.frameworks.captured.capture_llm_clients CLIENT INSTRUMENTATION [OUT]

CLIENT is ``anthropic`` (``Anthropic().messages.create`` with tool_use / tool_result blocks),
``google_genai`` (``genai.Client().models.generate_content`` with function calls and
responses) or ``groq`` (``Groq().chat.completions.create``, OpenAI's shapes);
INSTRUMENTATION is ``openinference`` (OpenInference's instrumentor for that client) or
``otel`` (OpenLLMetry's ``opentelemetry-instrumentation-anthropic`` / ``-groq``, the OTel
contrib ``opentelemetry-instrumentation-google-genai``). VENV holds the client, the
instrumentation and ``opentelemetry-sdk`` (versions written into the expectations). The
capture's tracer provider is the global one, as in a program that set OpenTelemetry up, so
spans a client writes of its own (the Anthropic SDK's) are captured too. Message content
is recorded (the instrumentations' switches for it turned on), as it must be for a run's
task and answer to be read at all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from opentelemetry import trace

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured import hand_loop
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, answer, call_tool, fail

HERE = Path(__file__).parent
MAX_TOKENS = 1024
# The loop's tools, in the vendors' declarations.
TOOLS = [
    (t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
    for t in hand_loop.TOOL_SCHEMAS
]


def script(llm: ScriptedLLM, marker: str) -> tuple[str, str, str]:
    """The shared agent's turns under ``marker``, with prompt caching as a long system
    prompt gets it: the first call writes the cache, later ones read it. Returns (task,
    failing task, the task of the loop with no span around it)."""
    task, failing, bare = (
        f"{marker} {S.TASK}",
        f"{marker}-fails {S.FAILING_TASK}",
        f"{marker}-bare {S.TASK}",
    )
    for conversation in (task, bare):
        llm.script(
            conversation,
            [
                call_tool("get_weather", {"city": "Paris"}, input_tokens=100, output_tokens=10,
                          cache_write_tokens=60),
                call_tool("get_weather", {"city": "Paris"}, input_tokens=110, output_tokens=11,
                          cache_read_tokens=60),
                call_tool("to_fahrenheit", {"celsius": 18}, input_tokens=120, output_tokens=12,
                          cache_read_tokens=60),
                answer(S.ANSWER, input_tokens=130, output_tokens=13, cache_read_tokens=60),
            ],
        )  # fmt: skip
    llm.script(failing, [fail(503, S.MODEL_ERROR)], then_repeat=fail(503, S.MODEL_ERROR))
    return task, failing, bare


class Client:
    """One vendor's client: how it asks once, how a tool's result goes back, a lone call."""

    packages: tuple[str, ...]
    ask: hand_loop.Ask
    tool_message: hand_loop.ToolMessage
    say: Callable[[str], str | None]


def anthropic_client(llm: ScriptedLLM, model: str) -> Client:
    from anthropic import Anthropic

    api = Anthropic(base_url=llm.anthropic_base_url, api_key="none", max_retries=0)
    tools = [{"name": n, "description": d, "input_schema": p} for n, d, p in TOOLS]

    def ask(messages: list[dict[str, Any]]) -> hand_loop.Reply:
        message = api.messages.create(
            model=model,
            max_tokens=MAX_TOKENS,
            messages=messages,
            tools=tools,  # type: ignore[arg-type]
        )
        text = "".join(b.text for b in message.content if b.type == "text") or None
        calls = [(b.id, b.name, dict(b.input)) for b in message.content if b.type == "tool_use"]
        content = [b.model_dump(exclude_none=True) for b in message.content]
        return hand_loop.Reply(text, calls, {"role": "assistant", "content": content})

    def tool_message(call_id: str, name: str, result: str) -> dict[str, Any]:
        block = {"type": "tool_result", "tool_use_id": call_id, "content": result}
        return {"role": "user", "content": [block]}

    def say(task: str) -> str | None:
        message = api.messages.create(
            model=model, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": task}]
        )
        return "".join(b.text for b in message.content if b.type == "text")

    client = Client()
    client.packages = ("anthropic",)
    client.ask, client.tool_message, client.say = ask, tool_message, say
    return client


def google_genai_client(llm: ScriptedLLM, model: str) -> Client:
    from google import genai
    from google.genai import types

    api = genai.Client(
        api_key="none",
        http_options=types.HttpOptions(
            base_url=llm.gemini_base_url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    config = types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(name=n, description=d, parameters_json_schema=p)
                    for n, d, p in TOOLS
                ]
            )
        ],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )

    def contents(messages: list[dict[str, Any]]) -> list[types.Content]:
        return [
            types.Content.model_validate(m)
            if "parts" in m
            else types.Content(role="user", parts=[types.Part(text=m["content"])])
            for m in messages
        ]

    def ask(messages: list[dict[str, Any]]) -> hand_loop.Reply:
        response = api.models.generate_content(
            model=model, contents=contents(messages), config=config
        )
        content = response.candidates[0].content  # type: ignore[index]
        parts = content.parts or []  # type: ignore[union-attr]
        text = "".join(p.text for p in parts if p.text) or None
        calls = [
            (p.function_call.name, p.function_call.name, dict(p.function_call.args or {}))
            for p in parts
            if p.function_call
        ]
        return hand_loop.Reply(text, calls, content.model_dump(exclude_none=True))  # type: ignore[union-attr]

    def tool_message(call_id: str, name: str, result: str) -> dict[str, Any]:
        part = types.Part.from_function_response(name=name, response={"result": result})
        return types.Content(role="user", parts=[part]).model_dump(exclude_none=True)

    def say(task: str) -> str | None:
        return api.models.generate_content(model=model, contents=task).text

    client = Client()
    client.packages = ("google-genai",)
    client.ask, client.tool_message, client.say = ask, tool_message, say
    return client


def groq_client(llm: ScriptedLLM, model: str) -> Client:
    import json

    from groq import Groq

    # Groq's API is OpenAI's chat completions under /openai/v1: the scripted server's.
    api = Groq(base_url=llm.base_url.removesuffix("/v1"), api_key="none", max_retries=0)

    def ask(messages: list[dict[str, Any]]) -> hand_loop.Reply:
        response = api.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            tools=hand_loop.TOOL_SCHEMAS,  # type: ignore[arg-type]
        )
        message = response.choices[0].message
        calls = [
            (c.id, c.function.name, json.loads(c.function.arguments))
            for c in message.tool_calls or []
        ]
        return hand_loop.Reply(message.content, calls, message.model_dump(exclude_none=True))

    def say(task: str) -> str | None:
        response = api.chat.completions.create(
            model=model, messages=[{"role": "user", "content": task}]
        )
        return response.choices[0].message.content

    client = Client()
    client.packages = ("groq",)
    client.ask, client.tool_message, client.say = ask, hand_loop.openai_tool_message, say
    return client


def instrument(client_name: str, instrumentation: str, capture: Capture) -> tuple[str, ...]:
    """Turn the instrumentation on; the packages whose versions matter."""
    provider = capture.provider
    if (client_name, instrumentation) == ("anthropic", "openinference"):
        from openinference.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument(tracer_provider=provider)
        return ("openinference-instrumentation-anthropic",)
    if (client_name, instrumentation) == ("anthropic", "otel"):
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as OtelAnthropic

        OtelAnthropic().instrument(tracer_provider=provider)
        return ("opentelemetry-instrumentation-anthropic",)
    if (client_name, instrumentation) == ("google_genai", "openinference"):
        from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor

        GoogleGenAIInstrumentor().instrument(tracer_provider=provider)
        return ("openinference-instrumentation-google-genai",)
    if (client_name, instrumentation) == ("google_genai", "otel"):
        # The contrib instrumentation records messages only when told, in the latest
        # experimental GenAI conventions.
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
        from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

        GoogleGenAiSdkInstrumentor().instrument(tracer_provider=provider)
        return ("opentelemetry-instrumentation-google-genai", "opentelemetry-util-genai")
    if (client_name, instrumentation) == ("groq", "openinference"):
        from openinference.instrumentation.groq import GroqInstrumentor

        GroqInstrumentor().instrument(tracer_provider=provider)
        return ("openinference-instrumentation-groq",)
    if (client_name, instrumentation) == ("groq", "otel"):
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
        from opentelemetry.instrumentation.groq import GroqInstrumentor as OtelGroq

        OtelGroq().instrument(tracer_provider=provider)
        return ("opentelemetry-instrumentation-groq",)
    raise SystemExit(f"unknown client and instrumentation {client_name!r} {instrumentation!r}")


CLIENTS = {
    "anthropic": anthropic_client,
    "google_genai": google_genai_client,
    "groq": groq_client,
}


# How a capture script turns an instrumentation on: (client, instrumentation, capture) ->
# the packages whose versions matter.
Instrument = Callable[[str, str, Capture], tuple[str, ...]]


def main(
    client_name: str,
    instrumentation: str,
    out: Path,
    clients: dict[str, Callable[[ScriptedLLM, str], Client]] = CLIENTS,
    turn_on: Instrument = instrument,
) -> None:
    """Capture ``client_name``'s loops under ``instrumentation``; other capture scripts
    hand in their own ``clients`` and ``turn_on``."""
    name = f"{client_name}_{instrumentation}"
    capture = Capture(out, ("opentelemetry-sdk",))
    trace.set_tracer_provider(capture.provider)
    packages = turn_on(client_name, instrumentation, capture)
    model = f"scripted-{client_name.replace('_', '-')}"
    marker, lone_task = f"[{name}]", f"[{name}-lone] Say hello."
    with ScriptedLLM() as llm:
        client = clients[client_name](llm, model)
        capture.expected["versions"].update({p: version(p) for p in packages + client.packages})
        task, failing, bare = script(llm, marker)
        done = hand_loop.run(capture.provider, client.ask, task, client.tool_message)
        done["model_calls"] = len(llm.requests_for(f"{marker} "))
        capture.expected["success"] = done
        capture.expected["fails"] = hand_loop.run(
            capture.provider, client.ask, failing, client.tool_message
        )
        bare_done = hand_loop.run_without_span(client.ask, bare, client.tool_message)
        bare_done["model_calls"] = len(llm.requests_for(f"{marker}-bare "))
        capture.expected["bare"] = bare_done
        llm.script(lone_task, [answer("Hello!", input_tokens=7, output_tokens=2)])
        capture.expected["lone"] = {"task": lone_task, "answer": client.say(lone_task)}
    capture.expected["model"] = model
    capture.write_spans(f"{name}.otlp")
    capture.write_expected(f"{name}.expected.json")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]) if len(sys.argv) > 3 else HERE)
