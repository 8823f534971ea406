"""Plain Python agents traced with the Traceloop SDK (OpenLLMetry): ``@agent``, ``@tool``,
``@workflow`` and ``@task`` from ``traceloop.sdk.decorators`` around a tool-calling loop on
the OpenAI client, whose calls OpenLLMetry's OpenAI instrumentation traces. Tracing is set up
as Traceloop documents it, ``Traceloop.init(api_endpoint=<the collector>)``, exporting
OTLP straight to the collector. Runs in the Traceloop SDK's own virtualenv: see harness.py.

Scenarios: ``success``, ``tool_error_recovers`` and ``fails`` run one agent (a tool that
raises is told to the model, which goes on; a model error ends the agent); ``concurrent``
several agents at once, one thread each; ``streamed`` the success scenario with streamed
model calls; ``nested`` an agent whose ``ask_child`` tool runs a
second agent; ``task_alone`` a ``@task`` called on its own (no workflow or agent around it);
``workflow`` a ``@workflow`` whose ``@task`` outlines the topic with one model call, then
hands it to a researcher agent and a writer agent in turn.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness import clock, main, outcome, outer_span
from traceloop.sdk import Traceloop
from traceloop.sdk.decorators import agent, task, tool, workflow
from traceloop.sdk.tracing.tracing import TracerWrapper

MODEL = "scripted-traceloop"
MAX_TURNS = 6
_client: Any = None


class _ExportErrors(logging.Handler):
    """Counts what the OTLP exporters log as failed (Traceloop.init reports nothing)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _tracing(endpoint: str, protocol: str, service: str) -> Callable[[], bool]:
    os.environ["TRACELOOP_METRICS_ENABLED"] = "false"  # the collector takes traces only

    errors = _ExportErrors()
    logging.getLogger("opentelemetry.exporter").addHandler(errors)
    # Traceloop's own processor and exporter, wrapped as the README says so that runs show
    # live and a run cut off (Ctrl-C) is told from a process that died.
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    from instrumentation.pending import PendingSpanProcessor

    url = endpoint if protocol == "grpc" else f"{endpoint}/v1/traces"
    exporter = OTLPSpanExporter(endpoint=url)
    processor = Traceloop.get_default_span_processor(disable_batch=True, exporter=exporter)
    Traceloop.init(
        app_name=service,
        processor=PendingSpanProcessor(processor),
        telemetry_enabled=False,
    )

    def flush() -> bool:
        TracerWrapper().flush()  # what Traceloop's own exit handler calls
        return errors.count == 0

    return flush


@tool(name="get_weather")
def get_weather(city: str) -> str:
    return f"sunny in {city}"


@tool(name="add")
def add(a: int, b: int) -> int:
    return a + b


@tool(name="flaky")
def flaky(x: int) -> str:
    if x != 2:
        raise ValueError("x must be 2")
    return "flaky ok"


def _spec(name: str, properties: dict[str, str]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {key: {"type": kind} for key, kind in properties.items()},
        "required": list(properties),
    }
    return {"type": "function", "function": {"name": name, "parameters": schema}}


SPECS = {
    "get_weather": _spec("get_weather", {"city": "string"}),
    "add": _spec("add", {"a": "integer", "b": "integer"}),
    "flaky": _spec("flaky", {"x": "integer"}),
    "ask_child": _spec("ask_child", {"question": "string"}),
    "clock": _spec("clock", {}),
    "interrupt": _spec("interrupt", {"city": "string"}),
}
clock_tool = tool(name="clock")(clock)


def _streamed(messages: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """One streamed model call, its chunks put back together as an assistant message."""
    stream = _client.chat.completions.create(
        model=MODEL,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},  # token counts come with the last chunk
        **options,
    )
    text, calls = "", {}
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                call["name"] += (delta.function and delta.function.name) or ""
                call["arguments"] += (delta.function and delta.function.arguments) or ""
    tool_calls = [
        {"id": c["id"], "type": "function",
         "function": {"name": c["name"], "arguments": c["arguments"]}}
        for _, c in sorted(calls.items())
    ]  # fmt: skip
    return {"role": "assistant", "content": text, **({"tool_calls": tool_calls} if calls else {})}


def _loop(task: str, tools: dict[str, Callable[..., Any]], stream: bool = False) -> str | None:
    """Ask the model, run the tools it calls (a tool's error goes back to it as the tool's
    result), until it answers in text; a model error ends the loop."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Answer the task; use the tools."},
        {"role": "user", "content": task},
    ]
    options = {"tools": [SPECS[name] for name in tools]} if tools else {}
    for _ in range(MAX_TURNS):
        if stream:
            message = _streamed(messages, options)
        else:
            reply = _client.chat.completions.create(model=MODEL, messages=messages, **options)
            message = reply.choices[0].message.model_dump(exclude_none=True)
        if not message.get("tool_calls"):
            return str(message["content"])
        messages.append(message)
        for call in message["tool_calls"]:
            name, arguments = call["function"]["name"], call["function"]["arguments"]
            try:
                result = str(tools[name](**json.loads(arguments)))
            except Exception as exc:  # the model reads the error and may try again
                result = f"error: {exc}"
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    return None


@agent(name="weather_agent")
def weather_agent(task: str) -> str | None:
    return _loop(task, {"get_weather": get_weather, "add": add, "flaky": flaky})


@agent(name="weather_agent")
def streaming_agent(task: str) -> str | None:
    return _loop(task, {"get_weather": get_weather, "add": add, "flaky": flaky}, stream=True)


@agent(name="child_agent")
def child_agent(question: str) -> str | None:
    return _loop(question, {})


@tool(name="ask_child")
def ask_child(question: str) -> str | None:
    return child_agent(question)


@agent(name="parent_agent")
def parent_agent(task: str) -> str | None:
    return _loop(task, {"ask_child": ask_child})


@task(name="summarize")
def summarize(text: str) -> str | None:
    return _loop(text, {})


@task(name="outline")
def outline(topic: str) -> str | None:
    return _loop(f"{topic}\nOutline the report.", {})


@agent(name="researcher")
def researcher(brief: str) -> str | None:
    return _loop(brief, {"get_weather": get_weather})


@agent(name="writer")
def writer(notes: str) -> str | None:
    return _loop(notes, {})


@workflow(name="weather_report")
def weather_report(topic: str) -> str | None:
    plan = outline(topic)
    notes = researcher(f"{topic}\nPlan: {plan}")
    return writer(f"{topic}\nNotes: {notes}")


@agent(name="weather_agent")
def clock_agent(task: str) -> str | None:
    return _loop(task, {"clock": clock_tool})


@tool(name="interrupt")
def interrupt(city: str) -> str:
    raise KeyboardInterrupt(city)


@agent(name="weather_agent")
def interrupted_agent(task: str) -> str | None:
    return _loop(task, {"get_weather": get_weather, "interrupt": interrupt})


AGENTS: dict[str, Callable[[str], Any]] = {
    "no_argument_tool": clock_agent,
    "streamed_parallel_tools": streaming_agent,
    "nested": parent_agent,
    "streamed": streaming_agent,
    "task_alone": summarize,
    "workflow": weather_report,
}


def run(scenario: str, tasks: list[str], base_url: str) -> list[dict[str, Any]]:
    global _client
    from openai import OpenAI

    _client = OpenAI(base_url=base_url, api_key="sk-scripted", max_retries=0)
    entry = AGENTS.get(scenario, weather_agent)

    def play(task: str) -> dict[str, Any]:
        return outcome(lambda: entry(task))

    if scenario in ("concurrent", "mixed_at_once"):
        with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
            return list(pool.map(play, tasks))
    if scenario == "outer_span":
        with outer_span():
            return [play(task) for task in tasks]
    if scenario == "ctrl_c":  # Ctrl-C in a tool: the decorators end no span on it
        try:
            return [outcome(lambda: interrupted_agent(tasks[0]))]
        except KeyboardInterrupt as exc:
            return [{"answer": None, "error": f"KeyboardInterrupt: {exc}"}]
    return [play(task) for task in tasks]


if __name__ == "__main__":
    raise SystemExit(main("traceloop", None, run, _tracing))
