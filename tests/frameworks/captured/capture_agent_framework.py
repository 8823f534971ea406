"""Run a Microsoft Agent Framework ``Agent`` (its own OpenTelemetry GenAI spans, sensitive
data on) against the scripted model and write the spans it exported, as OTLP protobuf, plus
what the framework returned.

    VENV/bin/python -m tests.frameworks.captured.capture_agent_framework [OUT_DIR]

Needs ``agent-framework-core`` and ``agent-framework-openai`` in a virtualenv of their own;
the versions used are written into the expectations file. OUT_DIR defaults to this folder
(the committed capture). Besides the shared agent, another agent used as a tool
(``Agent.as_tool``) shows a sub-agent.
"""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from agent_framework import Agent
from agent_framework.observability import enable_instrumentation
from agent_framework.openai import OpenAIChatCompletionClient
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.frameworks.captured import agent_scenario as S
from tests.scripted_llm import ScriptedLLM, answer, call_tool

HERE = Path(__file__).parent
PACKAGES = ("agent-framework-core", "agent-framework-openai", "opentelemetry-sdk")
MODEL = "scripted-maf"
PARENT_TASK = "[maf-parent] Ask the converter for 18C."
CHILD_TASK = "[maf-child] 18C in F?"


def _agent(llm: ScriptedLLM, tools: list[Any], name: str = "WeatherAgent") -> Agent:
    client = OpenAIChatCompletionClient(model=MODEL, api_key="none", base_url=llm.base_url)
    return Agent(client=client, name=name, instructions="Answer briefly.", tools=tools)


async def _run(agent: Agent, task: str) -> dict[str, Any]:
    try:
        done = await agent.run(task)
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "raised": f"{type(exc).__name__}: {exc}"}
    calls: dict[str, dict[str, Any]] = {}
    for message in done.messages:
        for content in message.contents:
            if content.type == "function_call":
                calls[content.call_id] = {"name": content.name, "args": content.parse_arguments()}
            elif content.type == "function_result":
                calls[content.call_id]["result"] = content.result
                calls[content.call_id]["error"] = content.exception is not None
    usage = done.usage_details or {}
    return {
        "task": task,
        "answer": done.text,
        "tools": list(calls.values()),
        "input_tokens": usage.get("input_token_count"),
        "output_tokens": usage.get("output_token_count"),
    }


async def _main(llm: ScriptedLLM) -> dict[str, Any]:
    expected: dict[str, Any] = {"versions": {p: version(p) for p in PACKAGES}}
    task, failing = S.script(llm, "[maf]")
    tools = S.Tools()
    expected["success"] = await _run(_agent(llm, [tools.get_weather, tools.to_fahrenheit]), task)
    expected["success"]["model_calls"] = len(llm.requests_for("[maf] "))
    expected["fails"] = await _run(_agent(llm, [S.Tools().get_weather]), failing)
    llm.script(PARENT_TASK, [call_tool("converter", {"task": CHILD_TASK}),
                             answer("The converter says 64.4F.")])  # fmt: skip
    llm.script(CHILD_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F")])
    child = _agent(llm, [S.Tools.to_fahrenheit], name="Converter")
    converter = child.as_tool(name="converter", description="Converts temperatures.")
    expected["sub_agent"] = await _run(_agent(llm, [converter], name="Manager"), PARENT_TASK)
    expected["sub_agent"]["sub_task"] = CHILD_TASK
    return expected


def main(out: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    enable_instrumentation(enable_sensitive_data=True)
    with ScriptedLLM() as llm:
        expected = asyncio.run(_main(llm))
    provider.force_flush()
    spans = exporter.get_finished_spans()
    (out / "agent_framework.otlp").write_bytes(bytes(encode_spans(spans).SerializeToString()))
    text = json.dumps(expected, indent=2, default=str) + "\n"
    (out / "agent_framework.expected.json").write_text(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
