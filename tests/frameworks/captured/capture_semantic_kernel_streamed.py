"""Run the Semantic Kernel agent of capture_semantic_kernel.py streamed
(``ChatCompletionAgent.invoke_stream``) against the scripted model and write the spans it
exported, as OTLP protobuf, plus what the agent streamed.

    VENV/bin/python -m tests.frameworks.captured.capture_semantic_kernel_streamed [OUT_DIR]

The venv is capture_semantic_kernel.py's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

# Read by Semantic Kernel at import: its GenAI spans, with the messages.
os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"] = "true"
os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS_SENSITIVE"] = "true"

from openai import AsyncOpenAI  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from semantic_kernel.agents import ChatCompletionAgent  # noqa: E402
from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion  # noqa: E402

from tests.frameworks.captured import agent_scenario as S  # noqa: E402
from tests.frameworks.captured import capture_semantic_kernel as SK  # noqa: E402
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
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    expected: dict[str, Any] = {"versions": {p: version(p) for p in SK.PACKAGES}}
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
        try:
            asyncio.run(_ask(llm, failing, SK.WeatherPlugin()))
            expected["fails"] = {"task": failing, "raised": None}
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            expected["fails"] = {"task": failing, "raised": f"{type(exc).__name__}: {exc}"}
    provider.force_flush()
    spans = exporter.get_finished_spans()
    (out / "semantic_kernel_streamed.otlp").write_bytes(encode_spans(spans).SerializeToString())
    (out / "semantic_kernel_streamed.expected.json").write_text(
        json.dumps(expected, indent=2, default=str) + "\n"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
