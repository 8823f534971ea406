"""One agent, traced by hand with nothing but a convention's spans (no framework): each shape
the OTel GenAI conventions have had, and OpenInference's span kinds. The agent: a weather
call that fails, the same call again, a sub-agent asked through a tool, then the answer.

Each writer takes a tracer of the real OpenTelemetry SDK; the expected run is the same for
every GenAI shape (EXPECTED_STEPS)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode, Tracer

TASK = "What is the weather in Paris, in Fahrenheit?"
SUB_TASK = "18C in Fahrenheit?"
ANSWER = "It is 64F and sunny in Paris."
SUB_ANSWER = "64"
WEATHER_ERROR = "weather service timed out"
WEATHER = '{"celsius": 18}'
REQUESTED, SERVED, PROVIDER = "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai"

# (call id, tool, arguments, result or None when it raised)
CALLS = (
    ("call_1", "get_weather", {"city": "Paris"}, None),
    ("call_2", "get_weather", {"city": "Paris"}, WEATHER),
    ("call_3", "ask_converter", {"question": SUB_TASK}, SUB_ANSWER),
)
# The run's steps as stored: (action, tool, arguments, result, status, error, finish reasons)
EXPECTED_STEPS = [
    ("think", None, None, None, "ok", None, '["tool_calls"]'),
    ("tool_call", "get_weather", '{"city": "Paris"}', None, "error", WEATHER_ERROR, None),
    ("think", None, None, None, "ok", None, '["tool_calls"]'),
    ("tool_call", "get_weather", '{"city": "Paris"}', WEATHER, "ok", None, None),
    ("think", None, None, None, "ok", None, '["tool_calls"]'),
    (
        "tool_call",
        "ask_converter",
        json.dumps({"question": SUB_TASK}),
        SUB_ANSWER,
        "ok",
        None,
        None,
    ),
    ("think", None, None, None, "ok", None, '["stop"]'),
]
# The n-th model call (1-based; the sub-agent's is 9) used n*10 tokens in, n out.
RUN_TOKENS = (100, 10)

# A model call: (number, user request, history of (call, result) answered so far, the
# tool call it asks for or None, its answer text or None).
ModelCall = tuple[int, str, Sequence[tuple[Any, ...]], tuple[Any, ...] | None, str | None]
Writer = Callable[[Tracer, ModelCall, dict[str, Any]], None]


def _failed(span: Span, message: str) -> None:
    span.record_exception(TimeoutError(message))
    span.set_status(Status(StatusCode.ERROR, message))


def _finish(call: tuple[Any, ...] | None) -> str:
    return "tool_calls" if call else "stop"


def run_agent(
    tracer: Tracer,
    write_call: Writer,
    tool_attrs: Callable[..., dict[str, Any]],
    usage_keys: tuple[str, str],
    provider_key: str,
) -> None:
    """The agent under one GenAI shape: how a model call carries its messages
    (``write_call``), what a tool span carries (``tool_attrs``), and the names of the
    token and provider keys (new or old)."""

    def model(
        number: int,
        request: str,
        history: Sequence[tuple[Any, ...]],
        call: tuple[Any, ...] | None,
        text: str | None,
    ) -> None:
        attrs = {
            "gen_ai.operation.name": "chat",
            provider_key: PROVIDER,
            "gen_ai.request.model": REQUESTED,
            "gen_ai.response.model": SERVED,
            usage_keys[0]: number * 10,
            usage_keys[1]: number,
        }
        write_call(tracer, (number, request, history, call, text), attrs)

    agent = {"gen_ai.operation.name": "invoke_agent", provider_key: PROVIDER}
    with tracer.start_as_current_span(
        "invoke_agent weather", attributes={**agent, "gen_ai.agent.name": "weather"}
    ):
        for number, call in enumerate(CALLS, start=1):
            model(number, TASK, CALLS[: number - 1], call, None)
            call_id, tool, arguments, result = call
            attrs = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "gen_ai.tool.call.id": call_id,
                **tool_attrs(arguments, result),
            }
            with tracer.start_as_current_span(f"execute_tool {tool}", attributes=attrs) as span:
                if result is None:
                    _failed(span, WEATHER_ERROR)
                elif tool == "ask_converter":
                    with tracer.start_as_current_span(
                        "invoke_agent converter",
                        attributes={**agent, "gen_ai.agent.name": "converter"},
                    ):
                        model(9, SUB_TASK, (), None, SUB_ANSWER)
        model(len(CALLS) + 1, TASK, CALLS, None, ANSWER)


# --- how a model call carries its messages ----------------------------------------------


def _parts_input(request: str, history: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": request}]},
    ]
    for call_id, tool, arguments, result in history:
        messages.append(
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": call_id, "name": tool, "arguments": arguments}
                ],
            }
        )
        messages.append(
            {
                "role": "tool",
                "parts": [
                    {
                        "type": "tool_call_response",
                        "id": call_id,
                        "response": result or WEATHER_ERROR,
                    }
                ],
            }
        )
    return messages


def _parts_output(call: tuple[Any, ...] | None, text: str | None) -> list[dict[str, Any]]:
    if call:
        parts = [{"type": "tool_call", "id": call[0], "name": call[1], "arguments": call[2]}]
    else:
        parts = [{"type": "text", "content": text}]
    return [{"role": "assistant", "parts": parts, "finish_reason": _finish(call)}]


def _chat_input(request: str, history: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The chat shape of the older conventions (OpenAI's)."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": request},
    ]
    for call_id, tool, arguments, result in history:
        messages.append({"role": "assistant", "tool_calls": [_chat_call(call_id, tool, arguments)]})
        messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": result or WEATHER_ERROR}
        )
    return messages


def _chat_call(call_id: str, tool: str, arguments: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": tool, "arguments": json.dumps(arguments)},
    }


@contextmanager
def _model_span(tracer: Tracer, attrs: dict[str, Any]) -> Iterator[Span]:
    with tracer.start_as_current_span(f"chat {REQUESTED}", attributes=attrs) as span:
        yield span


def attributes_call(tracer: Tracer, call: ModelCall, attrs: dict[str, Any]) -> None:
    """1.37 and later: the messages as span attributes."""
    _, request, history, asked, text = call
    attrs = {
        **attrs,
        "gen_ai.input.messages": json.dumps(_parts_input(request, history)),
        "gen_ai.output.messages": json.dumps(_parts_output(asked, text)),
        "gen_ai.response.finish_reasons": [_finish(asked)],
    }
    with _model_span(tracer, attrs):
        pass


def details_event_call(tracer: Tracer, call: ModelCall, attrs: dict[str, Any]) -> None:
    """1.37 and later, content opted into an event: gen_ai.client.inference.operation.details."""
    _, request, history, asked, text = call
    with _model_span(tracer, attrs) as span:
        span.add_event(
            "gen_ai.client.inference.operation.details",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": json.dumps(_parts_input(request, history)),
                "gen_ai.output.messages": json.dumps(_parts_output(asked, text)),
            },
        )


def message_events_call(tracer: Tracer, call: ModelCall, attrs: dict[str, Any]) -> None:
    """1.28 to 1.36: an event per message, a gen_ai.choice per answer."""
    _, request, history, asked, text = call
    with _model_span(tracer, attrs) as span:
        for message in _chat_input(request, history):
            event = {"content": message["content"]} if "content" in message else {}
            if "tool_calls" in message:
                event["tool_calls"] = json.dumps(message["tool_calls"])
            if "tool_call_id" in message:
                event["id"] = message["tool_call_id"]
            span.add_event(
                f"gen_ai.{message['role']}.message", {"gen_ai.system": PROVIDER, **event}
            )
        answer = {"tool_calls": [_chat_call(*asked[:3])]} if asked else {"content": text}
        span.add_event(
            "gen_ai.choice",
            {
                "gen_ai.system": PROVIDER,
                "index": 0,
                "finish_reason": _finish(asked),
                "message": json.dumps(answer),
            },
        )


def content_events_call(tracer: Tracer, call: ModelCall, attrs: dict[str, Any]) -> None:
    """1.26 and 1.27: the whole prompt and completion as JSON, one event each."""
    _, request, history, asked, text = call
    answer: dict[str, Any] = {"role": "assistant"}
    answer.update({"tool_calls": [_chat_call(*asked[:3])]} if asked else {"content": text})
    attrs = {**attrs, "gen_ai.response.finish_reasons": [_finish(asked)]}
    with _model_span(tracer, attrs) as span:
        span.add_event(
            "gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(_chat_input(request, history))}
        )
        span.add_event("gen_ai.content.completion", {"gen_ai.completion": json.dumps([answer])})


def tool_with_arguments(arguments: Any, result: str | None) -> dict[str, Any]:
    """1.37 and later: the call's arguments and result on the tool span."""
    attrs = {"gen_ai.tool.call.arguments": json.dumps(arguments)}
    if result is not None:
        attrs["gen_ai.tool.call.result"] = result
    return attrs


def tool_with_id_only(arguments: Any, result: str | None) -> dict[str, Any]:
    """Before 1.37: a tool span names its call (gen_ai.tool.call.id), nothing more."""
    return {}


NEW_KEYS = (("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"), "gen_ai.provider.name")
OLD_KEYS = (("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"), "gen_ai.system")
GENAI_SHAPES: dict[str, tuple[Writer, Callable[..., dict[str, Any]], tuple[Any, ...]]] = {
    "attributes": (attributes_call, tool_with_arguments, NEW_KEYS),
    "details_event": (details_event_call, tool_with_arguments, NEW_KEYS),
    "message_events": (message_events_call, tool_with_id_only, OLD_KEYS),
    "content_events": (content_events_call, tool_with_id_only, OLD_KEYS),
}


def genai_agent(tracer: Tracer, shape: str) -> None:
    write_call, tool_attrs, (usage_keys, provider_key) = GENAI_SHAPES[shape]
    run_agent(tracer, write_call, tool_attrs, usage_keys, provider_key)


# --- OpenInference ------------------------------------------------------------------------


def _oi_model(
    tracer: Tracer, number: int, request: str, call: tuple[Any, ...] | None, text: str | None
) -> None:
    attrs: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.model_name": REQUESTED,
        "llm.provider": PROVIDER,
        "llm.token_count.prompt": number * 10,
        "llm.token_count.completion": number,
        "llm.token_count.total": number * 11,
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Be brief.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": request,
        "input.value": json.dumps({"messages": [{"role": "user", "content": request}]}),
        "input.mime_type": "application/json",
        "llm.output_messages.0.message.role": "assistant",
    }
    if call:
        prefix = "llm.output_messages.0.message.tool_calls.0.tool_call."
        attrs[prefix + "id"] = call[0]
        attrs[prefix + "function.name"] = call[1]
        attrs[prefix + "function.arguments"] = json.dumps(call[2])
    else:
        attrs["llm.output_messages.0.message.content"] = text
        attrs["output.value"] = text
    with tracer.start_as_current_span("ChatCompletion", attributes=attrs):
        pass


def openinference_agent(tracer: Tracer, root_kind: str) -> None:
    """The agent under OpenInference: its root span an AGENT (named after the agent's run
    method, no agent.name) or, as DSPy or Haystack trace a program, a CHAIN; a CHAIN step
    and a RETRIEVER in between, which are no steps."""
    root = {
        "openinference.span.kind": root_kind,
        "input.value": TASK,
        "input.mime_type": "text/plain",
    }
    with tracer.start_as_current_span("WeatherAgent.run", attributes=root) as run:
        for number, call in enumerate(CALLS, start=1):
            with tracer.start_as_current_span(
                "plan", attributes={"openinference.span.kind": "CHAIN", "input.value": TASK}
            ):
                _oi_model(tracer, number, TASK, call, None)
            call_id, tool, arguments, result = call
            attrs = {
                "openinference.span.kind": "TOOL",
                "tool.name": tool,
                "input.value": json.dumps(arguments),
            }
            if result is not None:
                attrs["output.value"] = result
            with tracer.start_as_current_span(tool, attributes=attrs) as span:
                if result is None:
                    _failed(span, WEATHER_ERROR)
                elif tool == "ask_converter":
                    sub = {
                        "openinference.span.kind": "AGENT",
                        "agent.name": "converter",
                        "input.value": SUB_TASK,
                        "output.value": SUB_ANSWER,
                    }
                    with tracer.start_as_current_span("converter", attributes=sub):
                        _oi_model(tracer, 9, SUB_TASK, None, SUB_ANSWER)
        retriever = {
            "openinference.span.kind": "RETRIEVER",
            "input.value": "Paris climate",
            "retrieval.documents.0.document.content": "Paris is mild.",
        }
        with tracer.start_as_current_span("retrieve", attributes=retriever):
            pass
        _oi_model(tracer, len(CALLS) + 1, TASK, None, ANSWER)
        run.set_attribute("output.value", ANSWER)


def genai_workflow(tracer: Tracer) -> None:
    """A workflow of two agents (``invoke_workflow``, 1.38 and later), each answering once."""
    workflow = {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "report"}
    with tracer.start_as_current_span("invoke_workflow report", attributes=workflow):
        # Creating an agent (a remote service's) runs nothing: no run of its own.
        created = {"gen_ai.operation.name": "create_agent", "gen_ai.agent.name": "researcher",
                   "gen_ai.provider.name": PROVIDER}  # fmt: skip
        with tracer.start_as_current_span("create_agent researcher", attributes=created):
            pass
        for number, (agent, request, answer) in enumerate(
            (("researcher", TASK, SUB_ANSWER), ("writer", SUB_TASK, ANSWER)), start=1
        ):
            attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": PROVIDER}
            with tracer.start_as_current_span(f"invoke_agent {agent}", attributes=attrs):
                call = (number, request, (), None, answer)
                attributes_call(
                    tracer,
                    call,
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": PROVIDER,
                        "gen_ai.request.model": REQUESTED,
                        "gen_ai.response.model": SERVED,
                        "gen_ai.usage.input_tokens": number * 10,
                        "gen_ai.usage.output_tokens": number,
                    },
                )
