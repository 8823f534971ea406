"""The conversation shapes (sessions_scenario.py) on Semantic Kernel's
``ChatCompletionAgent`` and Microsoft Agent Framework's ``Agent``, each traced by its own
GenAI spans (sensitive data on) in a virtualenv of its own (the packages its entry names):
a run given an earlier exchange as messages, two tool calls in one turn with one raising,
tools answering odd results, a tool called with a wrong argument and a tool the agent does
not have; run by capture_sessions.py. The model calls Semantic Kernel's tools by their
``{plugin}-{function}`` names (``Session-...``)."""

from __future__ import annotations

import os
from typing import Any

from tests.frameworks.captured import sessions_scenario as S
from tests.frameworks.captured.capture_driver import Framework
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM

SHAPES = ("parallel", "results", "bad_args", "unknown_tool")
PLUGIN = "Session"


def _semantic_kernel(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    # Read by Semantic Kernel at import: its GenAI spans, with the messages.
    os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"] = "true"
    os.environ["SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS_SENSITIVE"] = "true"
    from openai import AsyncOpenAI
    from opentelemetry import trace
    from semantic_kernel.agents import ChatCompletionAgent
    from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion
    from semantic_kernel.contents import AuthorRole, ChatMessageContent
    from semantic_kernel.functions import kernel_function

    trace.set_tracer_provider(capture.provider)  # Semantic Kernel traces through the global one
    tools = S.Tools()

    class Session:
        """The shapes' tools as a plugin."""

        @kernel_function(description="The current weather in a city.")
        def get_weather(self, city: str) -> dict[str, Any]:
            return tools.get_weather(city)

        @kernel_function(description="Read a key that holds nothing.")
        def nothing(self, key: str) -> str:
            return tools.nothing(key)

        @kernel_function(description="List the files of a folder.")
        def list_files(self, folder: str) -> list[dict[str, Any]]:
            return tools.list_files(folder)

        @kernel_function(description="Read a long log.")
        def read_log(self, name: str) -> str:
            return tools.read_log(name)

    def ask(messages: Any) -> Any:
        async def run() -> str:
            client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
            service = OpenAIChatCompletion(ai_model_id=S.MODEL, async_client=client)
            agent = ChatCompletionAgent(service=service, name="session_agent",
                                        instructions="Be brief.", plugins=[Session()])  # fmt: skip
            return str((await agent.get_response(messages=messages)).message.content)

        return run()

    tasks = S.script(llm, "[sessions-semantic_kernel]", tool=lambda name: f"{PLUGIN}-{name}")
    out = {shape: S.outcome(tasks[shape], lambda t=tasks[shape]: ask(t)) for shape in SHAPES}
    earlier = [
        ChatMessageContent(role=AuthorRole.USER, content=tasks["earlier"]),
        ChatMessageContent(role=AuthorRole.ASSISTANT, content=S.EARLIER_ANSWER),
        ChatMessageContent(role=AuthorRole.USER, content=tasks["history"]),
    ]
    out["history"] = S.outcome(tasks["history"], lambda: ask(earlier))
    out["tool_calls"] = tools.calls
    return out


def _agent_framework(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from agent_framework import Agent, Message
    from agent_framework.observability import enable_instrumentation
    from agent_framework.openai import OpenAIChatCompletionClient
    from opentelemetry import trace

    trace.set_tracer_provider(capture.provider)  # the framework traces through the global one
    enable_instrumentation(enable_sensitive_data=True)
    tools = S.Tools()

    def make_agent() -> Any:
        client = OpenAIChatCompletionClient(model=S.MODEL, api_key="none", base_url=llm.base_url)
        own = [tools.get_weather, tools.nothing, tools.list_files, tools.read_log]
        return Agent(client=client, name="session_agent", instructions="Be brief.", tools=own)

    async def ask(messages: Any) -> str:
        return str((await make_agent().run(messages)).text)

    tasks = S.script(llm, "[sessions-agent_framework]")
    out = {shape: S.outcome(tasks[shape], lambda t=tasks[shape]: ask(t)) for shape in SHAPES}
    earlier = [
        Message("user", [tasks["earlier"]]),
        Message("assistant", [S.EARLIER_ANSWER]),
        Message("user", [tasks["history"]]),
    ]
    out["history"] = S.outcome(tasks["history"], lambda: ask(earlier))
    out["tool_calls"] = tools.calls
    return out


FRAMEWORKS: dict[str, Framework] = {
    "semantic_kernel": (("semantic-kernel",), _semantic_kernel),
    "agent_framework": (("agent-framework-core", "agent-framework-openai"), _agent_framework),
}
