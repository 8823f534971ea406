"""A tool loop written by hand around the OpenAI client, as scripts do, traced only by an
LLM-client instrumentation (the tools run untraced), against the scripted model; writes the
spans exported, as OTLP protobuf, plus what the loop returned.

    VENV/bin/python -m tests.frameworks.captured.capture_client_loop INSTRUMENTATION [OUT_DIR]

INSTRUMENTATION is ``openllmetry`` (opentelemetry-instrumentation-openai) or ``openlit``
(``openlit.init``), each installed in a virtualenv of its own with ``openai``; the versions
used are written into ``client_loop_<INSTRUMENTATION>.expected.json``. Each conversation
runs inside the script's own span (``weather_loop``, no GenAI keys), as a script that
traces itself does; one more question is a lone model call with no span around it.
"""

from __future__ import annotations

import json
import sys
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


def _instrument(name: str, provider: TracerProvider) -> tuple[str, ...]:
    """Turn the instrumentation on; the packages whose versions matter."""
    if name == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
        return ("opentelemetry-instrumentation-openai", "openai", "opentelemetry-sdk")
    if name == "openlit":
        import openlit

        openlit.init(tracer=provider.get_tracer("openlit"), disable_metrics=True,
                     disabled_instrumentors=[])  # fmt: skip
        return ("openlit", "openai", "opentelemetry-sdk")
    raise SystemExit(f"unknown instrumentation {name!r}")


def run_loop(client: OpenAI, task: str) -> dict[str, Any]:
    """Ask the model, run the tools it calls, until it answers with text."""
    tools = S.Tools()
    messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
    calls: list[dict[str, Any]] = []
    tokens = [0, 0]
    try:
        # The failure leaves the script's span as it leaves the script: the span fails.
        with trace.get_tracer("weather_script").start_as_current_span("weather_loop"):
            for _ in range(6):
                response = client.chat.completions.create(
                    model=MODEL,
                    messages=messages,
                    tools=TOOL_SCHEMAS,  # type: ignore[arg-type]
                )
                tokens[0] += response.usage.prompt_tokens  # type: ignore[union-attr]
                tokens[1] += response.usage.completion_tokens  # type: ignore[union-attr]
                message = response.choices[0].message
                if not message.tool_calls:
                    return {"task": task, "answer": message.content, "tools": calls,
                            "input_tokens": tokens[0], "output_tokens": tokens[1]}  # fmt: skip
                messages.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls:
                    name, args = call.function.name, json.loads(call.function.arguments)  # type: ignore[union-attr]
                    try:
                        result, failed = json.dumps(getattr(tools, name)(**args)), False
                    except Exception as exc:  # noqa: BLE001 - the model is told, as scripts do
                        result, failed = f"error: {exc}", True
                    calls.append({"name": name, "args": args, "result": result, "error": failed})
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "raised": f"{type(exc).__name__}: {exc}", "tools": calls}
    return {"task": task, "answer": None, "tools": calls}


def main(name: str, out: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    packages = _instrument(name, provider)
    expected: dict[str, Any] = {"versions": {p: version(p) for p in packages}}
    with ScriptedLLM() as llm:
        client = OpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        task, failing = S.script(llm, f"[loop-{name}]")
        expected["success"] = run_loop(client, task)
        expected["success"]["model_calls"] = len(llm.requests_for(f"[loop-{name}] "))
        expected["fails"] = run_loop(client, failing)
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
