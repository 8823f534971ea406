"""Run AG2's ``Agent`` (the ``ag2`` package, 1.x) against the scripted model, traced by its
own ``TelemetryMiddleware``, and write the spans it exported, as OTLP protobuf, plus what
``agent.ask`` returned.

    VENV/bin/python -m tests.frameworks.captured.capture_ag2_agent [OUT_DIR]

VENV holds ``ag2[openai]`` 1.x and ``opentelemetry-sdk`` (versions written into
``ag2_agent.expected.json``). Besides the shared agent, a failing model, and an agent
another agent uses as a tool (``Agent.as_tool``): a sub-agent.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from ag2 import Agent
from ag2.config.openai import OpenAIConfig
from ag2.middleware.builtin.telemetry import TelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, answer, call_tool

HERE = Path(__file__).parent
MODEL = "scripted-ag2-agent"
PACKAGES = ("ag2", "openai", "opentelemetry-sdk")
PARENT_TASK = "[ag2-agent-parent] Ask the converter for 18C."
CHILD_TASK = "[ag2-agent-child] 18C in F?"


def _agent(llm: ScriptedLLM, provider: TracerProvider, name: str, tools: list[Any]) -> Agent[Any]:
    config = OpenAIConfig(model=MODEL, base_url=llm.base_url, api_key="none", max_retries=0)
    # The middleware's names are what its spans say: AG2 does not pass the agent's own.
    telemetry = TelemetryMiddleware(
        tracer_provider=provider, agent_name=name, provider_name="openai", model_name=MODEL
    )
    return Agent(name, prompt="Answer briefly.", config=config, tools=tools,
                 middleware=[telemetry])  # fmt: skip


def _weather_tools() -> list[Any]:
    tools = S.Tools()

    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    def to_fahrenheit(celsius: float) -> float:
        """Celsius to Fahrenheit."""
        return S.Tools.to_fahrenheit(celsius)

    return [get_weather, to_fahrenheit]


async def _ask(agent: Agent[Any], task: str) -> dict[str, Any]:
    try:
        reply = await agent.ask(task)
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        return {"task": task, "raised": f"{type(exc).__name__}: {exc}"}
    usage = await reply.usage()
    return {
        "task": task,
        "answer": reply.body,
        "input_tokens": usage.total.prompt_tokens,
        "output_tokens": usage.total.completion_tokens,
    }


async def _main(capture: Capture, llm: ScriptedLLM) -> None:
    provider = capture.provider
    task, failing = S.script(llm, "[ag2-agent]")
    weather = _agent(llm, provider, "weather", _weather_tools())
    capture.expected["success"] = await _ask(weather, task)
    capture.expected["success"]["model_calls"] = len(llm.requests_for(task))
    capture.expected["fails"] = await _ask(_agent(llm, provider, "weather", _weather_tools()),
                                           failing)  # fmt: skip
    llm.script(PARENT_TASK, [call_tool("converter", {"objective": CHILD_TASK}),
                             answer("The converter says 64.4F.")])  # fmt: skip
    llm.script(CHILD_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F")])
    converter = _agent(llm, provider, "converter", [S.Tools.to_fahrenheit])
    tool = converter.as_tool(name="converter", description="Converts temperatures.")
    manager = _agent(llm, provider, "manager", [tool])
    capture.expected["sub_agent"] = await _ask(manager, PARENT_TASK)
    capture.expected["sub_agent"]["sub_task"] = CHILD_TASK
    capture.expected["sub_agent"]["sub_model_calls"] = len(llm.requests_for(CHILD_TASK))


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    with ScriptedLLM() as llm:
        asyncio.run(_main(capture, llm))
    capture.write_spans("ag2_agent.otlp")
    capture.write_expected("ag2_agent.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
