"""The edge shapes (edges_more_scenario.py) on the frameworks of tests/frameworks/venv_agents
(CrewAI, LlamaIndex, AutoGen, Agno), traced by their OpenInference instrumentors (AutoGen by
autogen-core's own spans too); run by capture_edges_more.py in the framework's venv."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.frameworks.captured import edges_more_scenario as M
from tests.frameworks.captured import edges_scenario as E
from tests.frameworks.captured.capture_driver import (
    CREWAI_PACKAGES,
    LLAMAINDEX_PACKAGES,
    Framework,
    instrument_crewai,
)
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM


def _crewai(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    instrument_crewai(capture.provider)
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    tools = M.Tools()

    @tool("tick")
    def tick(n: int) -> str:
        """Count one tick."""
        return tools.tick(n)

    @tool("lookup")
    def lookup(query: str) -> str:
        """Look a query up."""
        return tools.lookup(query)

    @tool("open_vault")
    def open_vault(code: str) -> str:
        """Open the vault with a code."""
        return tools.open_vault(code)

    def ask(task: str) -> str:
        model = LLM(model=f"openai/{M.MODEL}", base_url=llm.base_url, api_key="sk-scripted",
                    max_retries=0)  # fmt: skip
        agent = Agent(role="edge_agent", goal="Answer the task.", backstory="A careful agent.",
                      llm=model, tools=[tick, lookup, open_vault],
                      max_iter=E.LONG_CALLS + 10)  # fmt: skip
        job = Task(description=task, expected_output="The answer.", agent=agent)
        return str(Crew(agents=[agent], tasks=[job]).kickoff().raw)

    tasks = M.script(llm, "[edges-crewai]")
    return M.outcomes(tasks, ask)


def _llamaindex(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.llms.openai_like import OpenAILike
    from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

    LlamaIndexInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    def make_agent() -> Any:
        model = OpenAILike(model=M.MODEL, api_base=llm.base_url, api_key="sk-scripted",
                           is_chat_model=True, is_function_calling_model=True, max_retries=0,
                           additional_kwargs={"stream_options": {"include_usage": True}},
                           )  # fmt: skip
        return FunctionAgent(
            name="edge_agent",
            description="Answers the task.",
            tools=[tools.tick, tools.lookup, tools.open_vault, tools.wait_forever],
            llm=model,
            system_prompt="Answer.",
        )

    async def ask(task: str) -> str:
        return str(await make_agent().run(task, max_iterations=3 * E.LONG_CALLS))

    tasks = M.script(llm, "[edges-llamaindex]")
    out = M.outcomes(tasks, ask)

    async def cancel() -> dict[str, Any]:
        # LlamaIndex's own way: the handler's cancel_run while the tool waits.
        handler = make_agent().run(tasks["cancelled"])
        await E.until_started(tools, handler.done)
        await handler.cancel_run()
        try:
            await handler
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            return {"cancelled": True, "raised": f"{type(exc).__name__}: {exc}",
                    "tool_saw_cancel": tools.cancelled}  # fmt: skip
        return {"cancelled": False, "raised": None, "tool_saw_cancel": tools.cancelled}

    out["cancelled"] = {"task": tasks["cancelled"], **asyncio.run(cancel())}
    return out


def _autogen(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_ext.models.openai import OpenAIChatCompletionClient
    from openinference.instrumentation.autogen_agentchat import AutogenAgentChatInstrumentor
    from opentelemetry import trace

    trace.set_tracer_provider(capture.provider)  # autogen-core traces through the global one
    AutogenAgentChatInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()
    info = {"vision": False, "function_calling": True, "json_output": False,
            "family": "unknown", "structured_output": False}  # fmt: skip

    async def tick(n: int) -> str:
        """Count one tick."""
        return tools.tick(n)

    async def lookup(query: str) -> str:
        """Look a query up."""
        return tools.lookup(query)

    async def open_vault(code: str) -> str:
        """Open the vault with a code."""
        return tools.open_vault(code)

    def make_agent() -> Any:
        client = OpenAIChatCompletionClient(model=M.MODEL, base_url=llm.base_url,
                                            api_key="sk-scripted", max_retries=0,
                                            model_info=info)  # fmt: skip
        return AssistantAgent(
            name="edge_agent",
            model_client=client,
            tools=[tick, lookup, open_vault, tools.wait_forever],
            max_tool_iterations=E.LONG_CALLS + 10,
            reflect_on_tool_use=False,
        )

    async def ask(task: str) -> str:
        result = await make_agent().run(task=task)
        return str(result.messages[-1].to_text())

    tasks = M.script(llm, "[edges-autogen]")
    out = M.outcomes(tasks, ask)
    start = lambda: make_agent().run(task=tasks["cancelled"])  # noqa: E731
    out["cancelled"] = E.cancelled(tasks["cancelled"], start, tools)
    return out


def _agno(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat
    from openinference.instrumentation.agno import AgnoInstrumentor

    AgnoInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    def make_agent(*extra: Any) -> Any:
        model = OpenAIChat(id=M.MODEL, base_url=llm.base_url, api_key="none", max_retries=0)
        own = [tools.tick, tools.lookup, tools.open_vault, *extra]
        return Agent(name="edge_agent", model=model, tools=own)

    def ask(task: str) -> dict[str, Any]:
        done = make_agent().run(task)
        return {"content": done.content, "status": str(done.status)}

    tasks = M.script(llm, "[edges-agno]")
    out = M.outcomes(tasks, ask)
    # An async tool only under arun: a sync run refuses the agent.
    start = lambda: make_agent(tools.wait_forever).arun(tasks["cancelled"])  # noqa: E731
    out["cancelled"] = E.cancelled(tasks["cancelled"], start, tools)
    return out


FRAMEWORKS: dict[str, Framework] = {
    "crewai": (CREWAI_PACKAGES, _crewai),
    "llamaindex": (LLAMAINDEX_PACKAGES, _llamaindex),
    "autogen": (
        ("autogen-agentchat", "autogen-ext", "openinference-instrumentation-autogen-agentchat"),
        _autogen,
    ),
    "agno": (("agno", "openinference-instrumentation-agno"), _agno),
}
