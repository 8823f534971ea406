"""The edge shapes (edges_more_scenario.py) on tools an MCP server serves to an OpenAI Agents
SDK agent, as capture_mcp.py runs it; run by capture_edges_more.py."""

from __future__ import annotations

from typing import Any

from tests.frameworks.captured import edges_more_scenario as M
from tests.frameworks.captured import edges_scenario as E
from tests.frameworks.captured.capture_driver import Framework
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM


def _mcp(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    """The edge tools served by an MCP server (the ``mcp`` SDK's ``MCPServer`` over
    streamable HTTP on 127.0.0.1, as capture_mcp.py serves it) to an OpenAI Agents SDK
    agent; traced by OpenInference's Agents SDK and MCP instrumentors and the ``mcp`` SDK's
    own spans. The shapes that exercise the tools: the long run, hostile text, a tool that
    raises, a run cancelled while a tool runs."""
    from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner
    from agents.mcp import MCPServerStreamableHttp
    from mcp.server.mcpserver import MCPServer
    from openai import AsyncOpenAI
    from openinference.instrumentation.mcp import MCPInstrumentor
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    from opentelemetry import trace

    from tests.frameworks.captured.capture_mcp import _Served

    trace.set_tracer_provider(capture.provider)  # the mcp SDK traces to the global provider
    OpenAIAgentsInstrumentor().instrument(tracer_provider=capture.provider)
    MCPInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()
    server = MCPServer("edges")
    for function in (tools.tick, tools.lookup, tools.open_vault, tools.wait_forever):
        server.tool()(function)

    async def ask(url: str, task: str) -> Any:
        client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        model = OpenAIChatCompletionsModel(model=M.MODEL, openai_client=client)
        async with MCPServerStreamableHttp({"url": url}, name="edges") as mcp:
            agent = Agent(name="edge_agent", model=model, mcp_servers=[mcp],
                          model_settings=ModelSettings(include_usage=True))  # fmt: skip
            done = await Runner.run(agent, task, max_turns=E.LONG_CALLS + 10)
            return done.final_output

    tasks = M.script(llm, "[edges-mcp]")
    shapes = ("long", "hostile", "raises")
    with _Served(server) as served:
        out = M.outcomes({s: tasks[s] for s in shapes}, lambda t: ask(served.url, t))
        start = lambda: ask(served.url, tasks["cancelled"])  # noqa: E731
        out["cancelled"] = E.cancelled(tasks["cancelled"], start, tools)
    return out


FRAMEWORKS: dict[str, Framework] = {
    "mcp": (
        (
            "openai-agents",
            "mcp",
            "openinference-instrumentation-openai-agents",
            "openinference-instrumentation-mcp",
        ),  # fmt: skip
        _mcp,
    ),
}
