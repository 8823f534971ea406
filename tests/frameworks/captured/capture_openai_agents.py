"""Run an OpenAI Agents SDK agent (``OpenAIChatCompletionsModel`` on the scripted server),
traced by openinference-instrumentation-openai-agents, and write the spans it exported, as
OTLP protobuf, plus what the agent returned.

    VENV/bin/python -m tests.frameworks.captured.capture_openai_agents [OUT_DIR]

The versions used are written into the expectations file. A failing tool is reported to the
model by its own failure function (the SDK's default one redacts the error from the trace),
and the run goes on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
from openai import AsyncOpenAI
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture, failure_seen
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent
PACKAGES = (
    "openai-agents",
    "openai",
    "openinference-instrumentation-openai-agents",
    "opentelemetry-sdk",
)


def _tool_error(_context: Any, error: Exception) -> str:
    return f"Tool error: {error}"


def _agent(llm: ScriptedLLM, calls: list[dict[str, Any]]) -> Agent:
    tools = S.Tools()

    @function_tool(failure_error_function=_tool_error)
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        calls.append({"name": "get_weather", "args": {"city": city}, "error": True})
        result = tools.get_weather(city)
        calls[-1].update(error=False, result=result)
        return result

    @function_tool
    def to_fahrenheit(celsius: float) -> float:
        """Celsius to Fahrenheit."""
        result = tools.to_fahrenheit(celsius)
        calls.append({"name": "to_fahrenheit", "args": {"celsius": celsius}, "error": False})
        calls[-1]["result"] = result
        return result

    client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=0)
    model = OpenAIChatCompletionsModel(model="scripted-oai-agents", openai_client=client)
    return Agent(name="weather_agent", model=model, tools=[get_weather, to_fahrenheit])


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    OpenAIAgentsInstrumentor().instrument(
        tracer_provider=capture.provider, exclusive_processor=True
    )
    expected = capture.expected
    with ScriptedLLM() as llm:
        task, failing = S.script(llm, "[openai_agents]")
        calls: list[dict[str, Any]] = []
        done = Runner.run_sync(_agent(llm, calls), task)
        usage = done.context_wrapper.usage
        expected["success"] = {
            "task": task,
            "answer": done.final_output,
            "tools": calls,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "model_calls": len(llm.requests_for("[openai_agents] ")),
        }
        expected["fails"] = failure_seen(failing, lambda: Runner.run_sync(_agent(llm, []), failing))
    capture.write_spans("openai_agents.otlp")
    capture.write_expected("openai_agents.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
