"""Run a pydantic-ai agent on an OpenAI model (the scripted server), traced by pydantic-ai's own
instrumentation, and write the spans it exported, as OTLP protobuf, plus what the agent returned.

    VENV/bin/python -m tests.frameworks.captured.capture_pydantic_ai [OUT_DIR] [VERSION]

``VERSION`` is the instrumentation version (``InstrumentationSettings(version=N)``); without
it, pydantic-ai's default. The files are ``pydantic_ai[_vN]`` (the default capture of
pydantic-ai 1.0.18, in a venv with opentelemetry 1.37, is committed as ``pydantic_ai_1_0``).
The versions used are written into the expectations file. A tool fails by raising
``ModelRetry`` (pydantic-ai's way for a tool to let the model try again; any other
exception fails the run).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent
PACKAGES = ("pydantic-ai-slim", "openai", "opentelemetry-sdk")


def _agent(llm: ScriptedLLM, tools: S.Tools, calls: list[dict[str, Any]]) -> Agent[None, str]:
    client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
    model = OpenAIChatModel("scripted-pai", provider=OpenAIProvider(openai_client=client))
    agent: Agent[None, str] = Agent(model, name="weather_agent")

    @agent.tool_plain
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        try:
            result = tools.get_weather(city)
        except TimeoutError as exc:
            calls.append({"name": "get_weather", "args": {"city": city}, "error": True})
            raise ModelRetry(str(exc)) from exc
        calls.append({"name": "get_weather", "args": {"city": city}, "error": False})
        calls[-1]["result"] = result
        return result

    @agent.tool_plain
    def to_fahrenheit(celsius: float) -> float:
        """Celsius to Fahrenheit."""
        result = tools.to_fahrenheit(celsius)
        calls.append({"name": "to_fahrenheit", "args": {"celsius": celsius}, "error": False})
        calls[-1]["result"] = result
        return result

    return agent


async def _run(llm: ScriptedLLM, marker: str) -> dict[str, Any]:
    task, failing = S.script(llm, marker)
    calls: list[dict[str, Any]] = []
    done = await _agent(llm, S.Tools(), calls).run(task)
    usage = done.usage  # a property since 2.7x; a method before
    usage = usage() if callable(usage) else usage
    expected: dict[str, Any] = {
        "success": {
            "task": task,
            "answer": done.output,
            "tools": calls,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "model_calls": len(llm.requests_for(f"{marker} ")),
        }
    }
    try:
        await _agent(llm, S.Tools(), []).run(failing)
        expected["fails"] = {"task": failing, "raised": None}
    except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
        expected["fails"] = {"task": failing, "raised": f"{type(exc).__name__}: {exc}"}
    return expected


def main(out: Path, instrumentation_version: int | None = None) -> None:
    capture = Capture(out, PACKAGES)
    settings: dict[str, Any] = {"tracer_provider": capture.provider}
    if instrumentation_version is not None:
        settings["version"] = instrumentation_version
    Agent.instrument_all(InstrumentationSettings(**settings))
    name = "pydantic_ai" + (f"_v{instrumentation_version}" if instrumentation_version else "")
    capture.expected["instrumentation_version"] = instrumentation_version or "default"
    with ScriptedLLM() as llm:
        capture.expected.update(asyncio.run(_run(llm, f"[{name}]")))
    capture.write_spans(f"{name}.otlp")
    capture.write_expected(f"{name}.expected.json")


if __name__ == "__main__":
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else HERE,
        int(sys.argv[2]) if len(sys.argv) > 2 else None,
    )
