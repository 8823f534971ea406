"""Run a Semantic Kernel ``ChatCompletionAgent`` with a plugin of two functions (its own
OpenTelemetry GenAI spans, sensitive data on) against the scripted model and write the spans
it exported, as OTLP protobuf, plus what the agent returned.

    VENV/bin/python -m tests.frameworks.captured.capture_semantic_kernel [OUT_DIR]

Needs ``semantic-kernel`` in a virtualenv of its own; the versions used are written into the
expectations file.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

# Read by Semantic Kernel at import: its GenAI spans, with the messages.
os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"] = "true"
os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS_SENSITIVE"] = "true"

from openai import AsyncOpenAI  # noqa: E402
from opentelemetry import trace  # noqa: E402
from semantic_kernel.agents import ChatCompletionAgent  # noqa: E402
from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion  # noqa: E402
from semantic_kernel.functions import kernel_function  # noqa: E402

from tests.frameworks.captured import agent_scenario as S  # noqa: E402
from tests.frameworks.captured.capture_files import Capture, failure_seen  # noqa: E402
from tests.scripted_llm import ScriptedLLM  # noqa: E402

HERE = Path(__file__).parent
PACKAGES = ("semantic-kernel", "openai", "opentelemetry-sdk")
PLUGIN = "WeatherPlugin"  # the model calls a function as {plugin}-{function}


class WeatherPlugin:
    """The shared tools as Semantic Kernel functions."""

    def __init__(self) -> None:
        self.tools = S.Tools()
        self.calls: list[dict[str, Any]] = []

    @kernel_function(description="The current weather in a city.")
    def get_weather(self, city: str) -> str:
        try:
            result = json.dumps(self.tools.get_weather(city))
        except TimeoutError as exc:
            self.calls.append(
                {
                    "name": f"{PLUGIN}-get_weather",
                    "args": {"city": city},
                    "error": True,
                    "result": None,
                }
            )
            raise exc
        self.calls.append(
            {
                "name": f"{PLUGIN}-get_weather",
                "args": {"city": city},
                "error": False,
                "result": result,
            }
        )
        return result

    @kernel_function(description="Celsius to Fahrenheit.")
    def to_fahrenheit(self, celsius: float) -> str:
        result = str(self.tools.to_fahrenheit(celsius))
        self.calls.append(
            {
                "name": f"{PLUGIN}-to_fahrenheit",
                "args": {"celsius": celsius},
                "error": False,
                "result": result,
            }
        )
        return result


async def _ask(llm: ScriptedLLM, task: str, plugin: WeatherPlugin) -> Any:
    client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
    service = OpenAIChatCompletion(ai_model_id="scripted-sk", async_client=client)
    agent = ChatCompletionAgent(
        service=service, name="weather", instructions="Be brief.", plugins=[plugin]
    )
    return await agent.get_response(messages=task)


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    trace.set_tracer_provider(capture.provider)
    expected = capture.expected
    with ScriptedLLM() as llm:
        task, failing = S.script(llm, "[sk]")
        plugin = WeatherPlugin()
        response = asyncio.run(_ask(llm, task, plugin))
        expected["success"] = {
            "task": task,
            "answer": str(response.message.content),
            "tools": plugin.calls,
            # Semantic Kernel logs the messages as log records; its spans hold none of the
            # request (the invoke_agent span's gen_ai.input.messages is "[]").
            "task_in_trace": False,
            "input_tokens": 460,
            "output_tokens": 46,  # the scripted model's, 4 calls
            "model_calls": len(llm.requests_for("[sk] ")),
        }
        expected["fails"] = failure_seen(
            failing, lambda: asyncio.run(_ask(llm, failing, WeatherPlugin()))
        )
    capture.write_spans("semantic_kernel.otlp")
    capture.write_expected("semantic_kernel.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
