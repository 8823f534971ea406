"""The edge shapes (edges_more_scenario.py) on the frameworks that trace with their own GenAI
spans, sensitive data on: Semantic Kernel and Microsoft Agent Framework; run by
capture_edges_more.py in the framework's venv."""

from __future__ import annotations

import os
from typing import Any

from tests.frameworks.captured import edges_more_scenario as M
from tests.frameworks.captured import edges_scenario as E
from tests.frameworks.captured.capture_driver import Framework
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM


def _semantic_kernel(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    # Read by Semantic Kernel at import: its GenAI spans, with the messages.
    os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"] = "true"
    os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS_SENSITIVE"] = "true"
    from openai import AsyncOpenAI
    from opentelemetry import trace
    from semantic_kernel.agents import ChatCompletionAgent
    from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion
    from semantic_kernel.functions import kernel_function

    trace.set_tracer_provider(capture.provider)  # Semantic Kernel traces through the global one
    tools = M.Tools()

    class Edge:
        """The edge tools as a plugin (the model calls them as ``Edge-{function}``)."""

        @kernel_function(description="Count one tick.")
        def tick(self, n: int) -> str:
            return tools.tick(n)

        @kernel_function(description="Look a query up.")
        def lookup(self, query: str) -> str:
            return tools.lookup(query)

        @kernel_function(description="Open the vault with a code.")
        def open_vault(self, code: str) -> str:
            return tools.open_vault(code)

        @kernel_function(description="Wait for a slow service.")
        async def wait_forever(self, seconds: int) -> str:
            return await tools.wait_forever(seconds)

    def ask(task: str) -> Any:
        async def run() -> str:
            client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
            service = OpenAIChatCompletion(ai_model_id=M.MODEL, async_client=client)
            agent = ChatCompletionAgent(service=service, name="edge_agent",
                                        instructions="Be brief.", plugins=[Edge()])  # fmt: skip
            return str((await agent.get_response(messages=task)).message.content)

        return run()

    tasks = M.script(llm, "[edges-semantic_kernel]", tool=lambda name: f"Edge-{name}")
    out = M.outcomes(tasks, ask)
    out["cancelled"] = E.cancelled(tasks["cancelled"], lambda: ask(tasks["cancelled"]), tools)
    return out


def _agent_framework(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    from agent_framework import Agent
    from agent_framework.observability import enable_instrumentation
    from agent_framework.openai import OpenAIChatCompletionClient
    from opentelemetry import trace

    trace.set_tracer_provider(capture.provider)  # the framework traces through the global one
    enable_instrumentation(enable_sensitive_data=True)
    tools = M.Tools()

    def make_agent() -> Any:
        client = OpenAIChatCompletionClient(model=M.MODEL, api_key="none", base_url=llm.base_url)
        own = [tools.tick, tools.lookup, tools.open_vault, tools.wait_forever]
        return Agent(client=client, name="edge_agent", instructions="Answer briefly.", tools=own)

    async def ask(task: str) -> str:
        return str((await make_agent().run(task)).text)

    tasks = M.script(llm, "[edges-agent_framework]")
    out = M.outcomes(tasks, ask)
    out["cancelled"] = E.cancelled(tasks["cancelled"], lambda: ask(tasks["cancelled"]), tools)
    return out


FRAMEWORKS: dict[str, Framework] = {
    "semantic_kernel": (("semantic-kernel",), _semantic_kernel),
    "agent_framework": (("agent-framework-core", "agent-framework-openai"), _agent_framework),
}
