"""A tool loop written by hand around the OpenAI client, as scripts do, traced only by an
LLM-client instrumentation (the tools run untraced), against the scripted model; writes the
spans exported, as OTLP protobuf, plus what the loop returned.

    VENV/bin/python -m tests.frameworks.captured.capture_client_loop INSTRUMENTATION [OUT_DIR]

INSTRUMENTATION is ``openllmetry`` (opentelemetry-instrumentation-openai), ``openlit``
(``openlit.init``) or ``logfire`` (``logfire.instrument_openai``), each installed in a
virtualenv of its own with ``openai``; the versions used are written into
``client_loop_<INSTRUMENTATION>.expected.json``. Each conversation is one function,
``weather_loop``: under OpenLLMetry it runs inside a span of the script's own (no GenAI
keys), under OpenLIT it is decorated with ``@openlit.trace``, OpenLIT's way of grouping
calls, under Logfire it runs in a ``logfire.span``. One more question is a lone model call
with nothing around it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from openai import OpenAI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.frameworks.captured import agent_scenario as S
from tests.scripted_llm import ScriptedLLM, answer

HERE = Path(__file__).parent
MODEL = "scripted-loop"
LONE_TASK = "[loop-lone] Say hello."
TOOL_SCHEMAS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_weather", "to_fahrenheit")
]
Loop = Callable[[OpenAI, str, list[dict[str, Any]]], "str | None"]


def _in_own_span(loop: Loop) -> Loop:
    def traced(client: OpenAI, task: str, calls: list[dict[str, Any]]) -> str | None:
        with trace.get_tracer("weather_script").start_as_current_span("weather_loop"):
            return loop(client, task, calls)

    return traced


def _instrument(
    name: str, exporter: InMemorySpanExporter
) -> tuple[tuple[str, ...], Callable[[Loop], Loop]]:
    """Turn the instrumentation on; the packages whose versions matter, and how the script
    groups a conversation's calls."""
    if name == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
        return ("opentelemetry-instrumentation-openai", "openai", "opentelemetry-sdk"), _in_own_span
    if name == "openlit":
        import openlit

        # OpenLIT adds its processor to the global provider when one is set.
        openlit.init(disable_metrics=True, disable_batch=True)
        return ("openlit", "openai", "opentelemetry-sdk"), openlit.trace
    if name == "logfire":
        import logfire

        # Logfire sets up a provider of its own; the capture's exporter is added to it.
        logfire.configure(
            send_to_logfire=False,
            console=False,
            additional_span_processors=[SimpleSpanProcessor(exporter)],
        )
        logfire.instrument_openai()
        return ("logfire", "openai", "opentelemetry-sdk"), _in_logfire_span
    raise SystemExit(f"unknown instrumentation {name!r}")


def _in_logfire_span(loop: Loop) -> Loop:
    import logfire

    def traced(client: OpenAI, task: str, calls: list[dict[str, Any]]) -> str | None:
        with logfire.span("weather_loop {task}", task=task):
            return loop(client, task, calls)

    return traced


def weather_loop(client: OpenAI, task: str, calls: list[dict[str, Any]]) -> str | None:
    """Ask the model, run the tools it calls, until it answers with text."""
    tools = S.Tools()
    messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
    for _ in range(6):
        response = client.chat.completions.create(
            model=MODEL,
            messages=messages,  # type: ignore[arg-type]
            tools=TOOL_SCHEMAS,  # type: ignore[arg-type]
        )
        message = response.choices[0].message
        if not message.tool_calls:
            return message.content
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            name, args = call.function.name, json.loads(call.function.arguments)  # type: ignore[union-attr]
            try:
                result, failed = json.dumps(getattr(tools, name)(**args)), False
            except Exception as exc:  # noqa: BLE001 - the model is told, as scripts do
                result, failed = f"error: {exc}", True
            calls.append({"name": name, "args": args, "result": result, "error": failed})
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return None


def _run(loop: Loop, client: OpenAI, task: str) -> dict[str, Any]:
    calls: list[dict[str, Any]] = []
    try:
        # A failure leaves the grouping span as it leaves the script: the span fails.
        return {"task": task, "answer": loop(client, task, calls), "tools": calls}
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "raised": f"{type(exc).__name__}: {exc}", "tools": calls}


def main(name: str, out: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    packages, group = _instrument(name, exporter)
    loop = group(weather_loop)
    expected: dict[str, Any] = {"versions": {p: version(p) for p in packages}}
    with ScriptedLLM() as llm:
        client = OpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        task, failing = S.script(llm, f"[loop-{name}]")
        expected["success"] = _run(loop, client, task)
        expected["success"]["model_calls"] = len(llm.requests_for(f"[loop-{name}] "))
        expected["fails"] = _run(loop, client, failing)
        llm.script(LONE_TASK, [answer("Hello!", input_tokens=7, output_tokens=2)])
        lone = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": LONE_TASK}]
        )
        expected["lone"] = {"task": LONE_TASK, "answer": lone.choices[0].message.content}
    provider.force_flush()
    spans = exporter.get_finished_spans()
    (out / f"client_loop_{name}.otlp").write_bytes(bytes(encode_spans(spans).SerializeToString()))
    text = json.dumps(expected, indent=2, default=str) + "\n"
    (out / f"client_loop_{name}.expected.json").write_text(text)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else HERE)
