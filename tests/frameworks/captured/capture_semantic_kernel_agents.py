"""Run Semantic Kernel agents in other shapes than ``capture_semantic_kernel.py``'s against the
scripted model (its own GenAI spans, sensitive data on) and write the spans, as OTLP protobuf,
plus what the agents returned:

- an agent another agent uses as a plugin (the model calls ``{agent}-{agent}`` with
  ``messages``);
- two function calls in one model turn, the first raising;
- a request passed positionally (``get_response(task)``), which its span records.

    VENV/bin/python -m tests.frameworks.captured.capture_semantic_kernel_agents [OUT_DIR]

Needs ``semantic-kernel`` in a virtualenv of its own; the versions used are written into the
expectations file.
"""

from __future__ import annotations

import asyncio
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

from tests.frameworks.captured.capture_files import Capture  # noqa: E402
from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer, call_tool  # noqa: E402

HERE = Path(__file__).parent
PACKAGES = ("semantic-kernel", "openai", "opentelemetry-sdk")
NAME = "semantic_kernel_agents"
# The agent used as a plugin, what it is asked and answers; the one asking, its answer.
CHILD, CHILD_TASK, CHILD_ANSWER = "french", "[kernel-child] Say hello in French.", "bonjour"
PARENT, PARENT_TASK, PARENT_ANSWER = "host", "[kernel-host] Greet me in French.", "Bonjour!"
# Two weather calls in one turn, the first raising.
PARALLEL_TASK, PARALLEL_ANSWER = "[kernel-parallel] Weather in Atlantis and Paris?", "Sunny."
NO_CITY = "no such city: Atlantis"
# A request passed positionally.
POSITIONAL_TASK, POSITIONAL_ANSWER = "[kernel-positional] Say hi.", "Hi."


class Weather:
    """A plugin whose function fails for Atlantis."""

    @kernel_function(description="The current weather in a city.")
    def get_weather(self, city: str) -> str:
        if city == "Atlantis":
            raise ValueError(NO_CITY)
        return f"sunny in {city}"


def _script(llm: ScriptedLLM) -> None:
    tool = f"{CHILD}-{CHILD}"  # the plugin an agent makes of itself: named after it
    llm.script(PARENT_TASK, [call_tool(tool, {"messages": CHILD_TASK}), answer(PARENT_ANSWER)])
    llm.script(CHILD_TASK, [answer(CHILD_ANSWER)])
    both = (
        ToolCall("Weather-get_weather", {"city": "Atlantis"}),
        ToolCall("Weather-get_weather", {"city": "Paris"}),
    )
    llm.script(PARALLEL_TASK, [Turn(tool_calls=both), answer(PARALLEL_ANSWER)])
    llm.script(POSITIONAL_TASK, [answer(POSITIONAL_ANSWER)])


async def _run(llm: ScriptedLLM) -> dict[str, Any]:
    def agent(name: str, **options: Any) -> ChatCompletionAgent:
        client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        service = OpenAIChatCompletion(ai_model_id="scripted-sk", async_client=client)
        return ChatCompletionAgent(service=service, name=name, instructions="Be brief.", **options)

    child = agent(CHILD, description="Translates to French.")
    hosted = await agent(PARENT, plugins=[child]).get_response(messages=PARENT_TASK)
    parallel = await agent("weather", plugins=[Weather()]).get_response(messages=PARALLEL_TASK)
    positional = await agent("greeter").get_response(POSITIONAL_TASK)
    return {
        "as_plugin": {
            "agent": PARENT,
            "answer": str(hosted.message.content),
            "tool": f"{CHILD}-{CHILD}",
            "child": {"agent": CHILD, "task": CHILD_TASK, "answer": CHILD_ANSWER},
        },
        "parallel": {
            "agent": "weather",
            "answer": str(parallel.message.content),
            "calls": [
                {"args": {"city": "Atlantis"}, "error": NO_CITY},
                {"args": {"city": "Paris"}, "result": "sunny in Paris"},
            ],
        },
        "positional": {
            "agent": "greeter",
            "task": POSITIONAL_TASK,
            "answer": str(positional.message.content),
        },
    }


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    trace.set_tracer_provider(capture.provider)
    with ScriptedLLM() as llm:
        _script(llm)
        capture.expected.update(asyncio.run(_run(llm)))
    capture.write_spans(f"{NAME}.otlp")
    capture.write_expected(f"{NAME}.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
