"""Run one framework on the shapes of shapes_scenario.py (two tool calls in one model turn,
one of them raising and the model asking again, every answer streamed) against the scripted
model, and write the spans it exported, as OTLP protobuf, plus what the framework returned.

    VENV/bin/python -m tests.frameworks.captured.capture_shapes FRAMEWORK [OUT_DIR]

FRAMEWORK is ``langgraph`` (OpenInference), ``langgraph_openllmetry``, ``openai_agents``
(OpenInference), ``pydantic_ai`` (its own instrumentation), ``smolagents`` (OpenInference) or
``crewai`` (OpenInference's CrewAI and OpenAI instrumentors, in CrewAI's own venv);
the files are ``shapes_<FRAMEWORK>.otlp`` and ``.expected.json``, with the versions used.
A raising tool is reported to the model as each framework documents: LangChain's
``wrap_tool_call`` middleware, the Agents SDK's ``failure_error_function``, pydantic-ai's
``ModelRetry``, smolagents' and CrewAI's own error observations.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.frameworks.captured import shapes_scenario as S
from tests.frameworks.captured.capture_driver import (
    Framework,
    instrument_crewai,
    instrument_langchain,
    run_main,
)
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, call_tool


def _langgraph(capture: Capture, llm: ScriptedLLM, openllmetry: bool) -> dict[str, Any]:
    from langchain.agents import create_agent
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    from tests.frameworks.captured.langchain_weather import report_tool_errors

    instrument_langchain(capture.provider, openllmetry)
    tools = S.Tools()

    @tool
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    model = ChatOpenAI(
        model="scripted-shapes",
        base_url=llm.base_url,
        api_key=SecretStr("sk-scripted"),
        max_retries=0,
        streaming=True,
        stream_usage=True,
    )
    agent = create_agent(
        model, tools=[get_weather], name="weather_agent", middleware=[report_tool_errors]
    )
    task = S.script(llm, "[shapes-langgraph]")
    states = list(
        agent.stream({"messages": [{"role": "user", "content": task}]}, stream_mode="values")
    )
    return S.expected(task, states[-1]["messages"][-1].content, tools, llm)


def _openai_agents(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, function_tool
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    OpenAIAgentsInstrumentor().instrument(
        tracer_provider=capture.provider, exclusive_processor=True
    )
    tools = S.Tools()

    def tool_error(_context: Any, error: Exception) -> str:
        return f"Tool error: {error}"

    @function_tool(failure_error_function=tool_error)
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=0)
    agent = Agent(
        name="weather_agent",
        model=OpenAIChatCompletionsModel(model="scripted-shapes", openai_client=client),
        model_settings=ModelSettings(include_usage=True),
        tools=[get_weather],
    )
    task = S.script(llm, "[shapes-openai_agents]")

    async def run() -> Any:
        result = Runner.run_streamed(agent, task)
        async for _ in result.stream_events():
            pass
        return result.final_output

    return S.expected(task, asyncio.run(run()), tools, llm)


def _pydantic_ai(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from openai import AsyncOpenAI
    from pydantic_ai import Agent, ModelRetry
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    Agent.instrument_all(InstrumentationSettings(tracer_provider=capture.provider))
    client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
    model = OpenAIChatModel("scripted-shapes", provider=OpenAIProvider(openai_client=client))
    agent: Agent[None, str] = Agent(model, name="weather_agent")
    tools = S.Tools()

    @agent.tool_plain
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        try:
            return tools.get_weather(city)
        except TimeoutError as exc:
            raise ModelRetry(str(exc)) from exc

    task = S.script(llm, "[shapes-pydantic_ai]")

    async def run() -> str:
        async with agent.run_stream(task) as result:
            return await result.get_output()

    return S.expected(task, asyncio.run(run()), tools, llm)


def _smolagents(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor
    from smolagents import OpenAIModel, ToolCallingAgent, tool

    SmolagentsInstrumentor().instrument(tracer_provider=capture.provider)
    tools = S.Tools()

    @tool
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city.

        Args:
            city: The city.
        """
        return tools.get_weather(city)

    model = OpenAIModel(
        model_id="scripted-shapes",
        api_base=llm.base_url,
        api_key="sk-scripted",
        client_kwargs={"max_retries": 0},
    )
    agent = ToolCallingAgent(
        tools=[get_weather],
        model=model,
        name="weather_agent",
        max_steps=6,
        verbosity_level=0,
        stream_outputs=True,
    )
    final = call_tool("final_answer", {"answer": S.ANSWER}, input_tokens=S.TOKENS[2][0],
                      output_tokens=S.TOKENS[2][1])  # fmt: skip
    task = S.script(llm, "[shapes-smolagents]", final)
    return S.expected(task, agent.run(task), tools, llm)


def _crewai(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    instrument_crewai(capture.provider)
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    tools = S.Tools()

    @tool("get_weather")
    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        return tools.get_weather(city)

    model = LLM(model="openai/scripted-shapes", base_url=llm.base_url, api_key="sk-scripted",
                max_retries=0, stream=True)  # fmt: skip
    agent = Agent(role="weather_agent", goal="Answer the task.", backstory="A careful agent.",
                  llm=model, tools=[get_weather])  # fmt: skip
    task = S.script(llm, "[shapes-crewai]")
    job = Task(description=task, expected_output="The answer.", agent=agent)
    output = Crew(agents=[agent], tasks=[job]).kickoff()
    return S.expected(task, str(output.raw), tools, llm)


FRAMEWORKS: dict[str, Framework] = {
    "langgraph": (
        ("langgraph", "langchain", "langchain-openai", "openinference-instrumentation-langchain"),
        lambda capture, llm: _langgraph(capture, llm, openllmetry=False),
    ),
    "langgraph_openllmetry": (
        ("langgraph", "langchain", "langchain-openai", "opentelemetry-instrumentation-langchain"),
        lambda capture, llm: _langgraph(capture, llm, openllmetry=True),
    ),
    "openai_agents": (
        ("openai-agents", "openinference-instrumentation-openai-agents"),
        _openai_agents,
    ),
    "pydantic_ai": (("pydantic-ai-slim",), _pydantic_ai),
    "smolagents": (("smolagents", "openinference-instrumentation-smolagents"), _smolagents),
    "crewai": (
        ("crewai", "openinference-instrumentation-crewai", "openinference-instrumentation-openai"),
        _crewai,
    ),
}


if __name__ == "__main__":
    run_main("shapes", FRAMEWORKS)
