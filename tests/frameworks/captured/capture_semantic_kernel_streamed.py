"""Run the Semantic Kernel agent of capture_semantic_kernel.py streamed
(``ChatCompletionAgent.invoke_stream``) against the scripted model and write the spans it
exported, as OTLP protobuf, plus what the agent streamed.

    VENV/bin/python -m tests.frameworks.captured.capture_semantic_kernel_streamed [OUT_DIR]

The venv is capture_semantic_kernel.py's.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

# Read by Semantic Kernel at import: its GenAI spans, with the messages.
os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"] = "true"
os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS_SENSITIVE"] = "true"

from openai import AsyncOpenAI  # noqa: E402
from opentelemetry import trace  # noqa: E402
from semantic_kernel.agents import ChatCompletionAgent  # noqa: E402
from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion  # noqa: E402

from tests.frameworks.captured import agent_scenario as S  # noqa: E402
from tests.frameworks.captured import capture_semantic_kernel as SK  # noqa: E402
from tests.frameworks.captured.capture_files import Capture, failure_seen  # noqa: E402
from tests.scripted_llm import ScriptedLLM  # noqa: E402

HERE = Path(__file__).parent


async def _ask(llm: ScriptedLLM, task: str, plugin: SK.WeatherPlugin) -> tuple[str, int]:
    client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
    service = OpenAIChatCompletion(ai_model_id="scripted-sk", async_client=client)
    agent = ChatCompletionAgent(
        service=service, name="weather", instructions="Be brief.", plugins=[plugin]
    )
    text, chunks = "", 0
    async for chunk in agent.invoke_stream(messages=task):
        text += str(chunk.message.content or "")
        chunks += 1
    return text, chunks


def main(out: Path) -> None:
    capture = Capture(out, SK.PACKAGES)
    trace.set_tracer_provider(capture.provider)
    expected = capture.expected
    with ScriptedLLM() as llm:
        task, failing = S.script(llm, "[sk-streamed]")
        plugin = SK.WeatherPlugin()
        answer, chunks = asyncio.run(_ask(llm, task, plugin))
        expected["success"] = {
            "task": task,
            "answer": answer,
            "tools": plugin.calls,
            "task_in_trace": False,  # as capture_semantic_kernel.py
            "input_tokens": 460,
            "output_tokens": 46,
            "model_calls": len(llm.requests_for("[sk-streamed] ")),
            "chunks": chunks,
        }
        expected["fails"] = failure_seen(
            failing, lambda: asyncio.run(_ask(llm, failing, SK.WeatherPlugin()))
        )
    capture.write_spans("semantic_kernel_streamed.otlp")
    capture.write_expected("semantic_kernel_streamed.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
