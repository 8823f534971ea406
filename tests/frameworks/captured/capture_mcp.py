"""Run an OpenAI Agents SDK agent whose tools are an MCP server's (the ``mcp`` SDK's
``MCPServer``, served over streamable HTTP on 127.0.0.1 in this process) against the scripted
model, traced by openinference-instrumentation-openai-agents, openinference-instrumentation-mcp
and the ``mcp`` SDK's own spans; write the spans, as OTLP protobuf, plus what the SDK returned.

    VENV/bin/python -m tests.frameworks.captured.capture_mcp [OUT_DIR]

Needs ``openai-agents``, ``mcp``, ``openinference-instrumentation-openai-agents`` and
``openinference-instrumentation-mcp`` in a virtualenv of their own; the versions used are
written into the expectations file. OUT_DIR defaults to this folder (the committed capture).
The server's spans reach the same provider, as a server process's own would reach the
collector: they join the agent's trace through the context the client sends in ``_meta``.
With ``mcp<2`` (no spans of its own) OpenLLMetry's ``opentelemetry-instrumentation-mcp``
traces it, and the capture is ``mcp_v1.otlp``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvicorn
from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner
from agents.mcp import MCPServerStreamableHttp
from openai import AsyncOpenAI
from openinference.instrumentation.mcp import MCPInstrumentor
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.frameworks.captured import agent_scenario as S
from tests.scripted_llm import ScriptedLLM

try:  # mcp 2.x: traces itself
    from mcp.server.mcpserver import MCPServer

    MCP_V1 = False
except ImportError:  # mcp 1.x: FastMCP, traced by OpenLLMetry's instrumentation
    from mcp.server.fastmcp import FastMCP as MCPServer

    MCP_V1 = True

HERE = Path(__file__).parent
PACKAGES = ("openai-agents", "mcp", "openinference-instrumentation-openai-agents",
            "openinference-instrumentation-mcp", "opentelemetry-sdk")  # fmt: skip
# With mcp 1.x the capture is mcp_v1.*, and OpenLLMetry's instrumentation traces the SDK.
NAME = "mcp_v1" if MCP_V1 else "mcp"
V1_PACKAGES = ("opentelemetry-instrumentation-mcp",)


def _server(tools: S.Tools) -> Any:
    server = MCPServer("weather")

    @server.tool()
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    @server.tool()
    def to_fahrenheit(celsius: float) -> float:
        """Celsius to Fahrenheit."""
        return S.Tools.to_fahrenheit(celsius)

    return server


class _Served:
    """The MCP server's streamable HTTP app under uvicorn on a free loopback port."""

    def __init__(self, server: MCPServer) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(server.streamable_http_app(), host="127.0.0.1", port=port,
                                log_level="warning")  # fmt: skip
        self.url = f"http://127.0.0.1:{port}/mcp"
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._uvicorn.run, daemon=True)

    def __enter__(self) -> _Served:
        self._thread.start()
        for _ in range(500):
            if self._uvicorn.started:
                return self
            threading.Event().wait(0.01)
        raise RuntimeError("the MCP server did not start")

    def __exit__(self, *exc: object) -> None:
        self._uvicorn.should_exit = True
        self._thread.join(timeout=10)


async def _run(llm: ScriptedLLM, url: str, task: str) -> dict[str, Any]:
    client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
    model = OpenAIChatCompletionsModel(model="scripted-mcp", openai_client=client)
    async with MCPServerStreamableHttp({"url": url}, name="weather") as mcp:
        agent = Agent(name="Weather Agent", model=model, mcp_servers=[mcp],
                      model_settings=ModelSettings(include_usage=True))  # fmt: skip
        try:
            done = await Runner.run(agent, task)
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            return {"task": task, "raised": f"{type(exc).__name__}: {exc}"}
    calls: dict[str, dict[str, Any]] = {}
    tools = []
    for item in done.new_items:
        raw = item.raw_item
        if item.type == "tool_call_item":
            calls[raw.call_id] = {"name": raw.name, "args": json.loads(raw.arguments)}
        elif item.type == "tool_call_output_item":
            call = calls[raw["call_id"]]
            output = item.output
            tools.append({**call, "result": output})
    return {
        "task": task,
        "answer": done.final_output,
        "tools": tools,
        "input_tokens": sum(r.usage.input_tokens for r in done.raw_responses),
        "output_tokens": sum(r.usage.output_tokens for r in done.raw_responses),
        "model_calls": len(llm.requests_for(task)),
    }


def main(out: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # the mcp SDK traces to the global provider
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
    MCPInstrumentor().instrument(tracer_provider=provider)
    packages = PACKAGES
    if MCP_V1:
        from opentelemetry.instrumentation.mcp import McpInstrumentor

        McpInstrumentor().instrument(tracer_provider=provider)
        packages += V1_PACKAGES
    expected: dict[str, Any] = {"versions": {p: version(p) for p in packages}}
    with ScriptedLLM() as llm, _Served(_server(S.Tools())) as served:
        task, failing = S.script(llm, "[mcp]")
        expected["success"] = asyncio.run(_run(llm, served.url, task))
        expected["fails"] = asyncio.run(_run(llm, served.url, failing))
    provider.force_flush()
    spans = exporter.get_finished_spans()
    (out / f"{NAME}.otlp").write_bytes(encode_spans(spans).SerializeToString())
    (out / f"{NAME}.expected.json").write_text(json.dumps(expected, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
