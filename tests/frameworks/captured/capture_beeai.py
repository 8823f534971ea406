"""Run BeeAI Framework agents (traced by openinference-instrumentation-beeai) against the
scripted model and write the spans they exported, as OTLP protobuf, plus what BeeAI returned.

    VENV/bin/python -m tests.frameworks.captured.capture_beeai [OUT_DIR]

Needs ``beeai-framework`` and ``openinference-instrumentation-beeai`` in a virtualenv of
their own; the versions used are written into the expectations file. OUT_DIR defaults to
this folder (the committed capture). A ``RequirementAgent`` answers through its
``final_answer`` tool, so the scripted model calls it last. Besides the shared agent and the
failing run (``beeai.otlp``), ``beeai_shapes.otlp`` holds a run stopped by
``max_iterations``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import

from beeai_framework.adapters.openai import OpenAIChatModel  # noqa: E402
from beeai_framework.agents.requirement import RequirementAgent  # noqa: E402
from beeai_framework.tools import AnyTool, tool  # noqa: E402
from openinference.instrumentation.beeai import BeeAIInstrumentor  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from tests.frameworks.captured import agent_scenario as S  # noqa: E402
from tests.scripted_llm import ScriptedLLM, Turn, call_tool, fail  # noqa: E402

HERE = Path(__file__).parent
PACKAGES = ("beeai-framework", "openinference-instrumentation-beeai", "litellm",
            "opentelemetry-sdk")  # fmt: skip


def _tools(tools: S.Tools) -> list[AnyTool]:
    @tool
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    @tool
    def to_fahrenheit(celsius: float) -> float:
        """Celsius to Fahrenheit."""
        return S.Tools.to_fahrenheit(celsius)

    return [get_weather, to_fahrenheit]


def _steps(output: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": step.tool.name if step.tool else None,
            "args": step.input,
            "error": step.error is not None,
            "result": None if step.error is not None else str(step.output),
        }
        for step in output.state.steps
    ]


def _answer(answer: str, **tokens: int) -> Turn:
    return call_tool("final_answer", {"response": answer}, **tokens)


async def _run(agent: Any, task: str, llm: ScriptedLLM, **options: Any) -> dict[str, Any]:
    try:
        done = await agent.run(task, **options)
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "raised": f"{type(exc).__name__}: {exc}",
                "explained": getattr(exc, "explain", lambda: None)(),
                "model_calls": len(llm.requests_for(task))}  # fmt: skip
    return {
        "task": task,
        "answer": done.last_message.text,
        "steps": _steps(done),
        "model_calls": len(llm.requests_for(task)),
    }


async def _capture(llm: ScriptedLLM, expected: dict[str, Any], shapes: Any) -> None:
    model = OpenAIChatModel("scripted-beeai", api_key="none", base_url=llm.base_url)
    task, failing = f"[beeai] {S.TASK}", f"[beeai]-fails {S.FAILING_TASK}"
    llm.script(task, [
        call_tool("get_weather", {"city": "Paris"}, input_tokens=100, output_tokens=10),
        call_tool("get_weather", {"city": "Paris"}, input_tokens=110, output_tokens=11),
        call_tool("to_fahrenheit", {"celsius": 18}, input_tokens=120, output_tokens=12),
        _answer(S.ANSWER, input_tokens=130, output_tokens=13),
    ])  # fmt: skip
    llm.script(failing, [fail(503, S.MODEL_ERROR)], then_repeat=fail(503, S.MODEL_ERROR))
    agent = RequirementAgent(llm=model, tools=_tools(S.Tools()), name="WeatherAgent")
    expected["success"] = await _run(agent, task, llm)
    failing_agent = RequirementAgent(llm=model, tools=_tools(S.Tools()), name="WeatherAgent")
    expected["fails"] = await _run(failing_agent, failing, llm)
    shapes()

    found: dict[str, Any] = {}
    task = "[beeai-limit] Keep converting."
    turns = [call_tool("to_fahrenheit", {"celsius": c}) for c in range(10, 20)]
    llm.script(task, turns)
    agent = RequirementAgent(llm=model, tools=_tools(S.Tools()), name="LimitedAgent")
    found["max_iterations"] = await _run(agent, task, llm, max_iterations=2)
    expected["shapes"] = found


def main(out: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    BeeAIInstrumentor().instrument(tracer_provider=provider)
    expected: dict[str, Any] = {"versions": {p: version(p) for p in PACKAGES}}

    def write(name: str) -> None:
        provider.force_flush()
        (out / name).write_bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())
        exporter.clear()

    with ScriptedLLM() as llm:
        asyncio.run(_capture(llm, expected, lambda: write("beeai.otlp")))
    write("beeai_shapes.otlp")
    (out / "beeai.expected.json").write_text(json.dumps(expected, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
