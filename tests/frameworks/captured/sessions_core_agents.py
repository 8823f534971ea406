"""The conversation shapes (sessions_scenario.py) on the frameworks of the project's own
environment: pydantic-ai (its own instrumentation), the OpenAI Agents SDK, LangGraph's
``create_agent`` and smolagents (OpenInference), Strands and Google ADK (their own spans).
Each plays a run given an earlier exchange (not smolagents: its runs take a task; ADK a
session of two runs in its place), two tool calls in one turn with one raising, tools
answering odd results, a tool called with a wrong argument and a tool the agent does not
have; run by capture_sessions.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.frameworks.captured import sessions_scenario as S
from tests.frameworks.captured.capture_driver import Framework, instrument_langchain
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, call_tool

SHAPES = ("parallel", "results", "bad_args", "unknown_tool")


def _each(tasks: dict[str, str], ask: Callable[[str], Any]) -> dict[str, S.Outcome]:
    return {shape: S.outcome(tasks[shape], lambda t=tasks[shape]: ask(t)) for shape in SHAPES}


def _pydantic_ai(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from openai import AsyncOpenAI
    from pydantic_ai import Agent, ModelRetry
    from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    Agent.instrument_all(InstrumentationSettings(tracer_provider=capture.provider))
    tools = S.Tools()

    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        try:
            return tools.get_weather(city)
        except ValueError as exc:
            raise ModelRetry(str(exc)) from exc  # pydantic-ai's way to tell the model

    def make_agent() -> Agent[None, str]:
        # A client per event loop: an httpx pool is bound to the loop it first ran in.
        client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        model = OpenAIChatModel(S.MODEL, provider=OpenAIProvider(openai_client=client))
        own = [get_weather, tools.nothing, tools.list_files, tools.read_log]
        return Agent(model, name="session_agent", tools=own)

    tasks = S.script(llm, "[sessions-pydantic_ai]")
    out = _each(tasks, lambda t: make_agent().run_sync(t).output)
    earlier = [
        ModelRequest(parts=[UserPromptPart(content=tasks["earlier"])]),
        ModelResponse(parts=[TextPart(content=S.EARLIER_ANSWER)]),
    ]
    out["history"] = S.outcome(
        tasks["history"],
        lambda: make_agent().run_sync(tasks["history"], message_history=earlier).output,
    )
    out["tool_calls"] = tools.calls
    return out


def _openai_agents(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, function_tool
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    OpenAIAgentsInstrumentor().instrument(
        tracer_provider=capture.provider, exclusive_processor=True
    )
    tools = S.Tools()
    own = [
        function_tool(tools.get_weather),
        function_tool(tools.nothing),
        function_tool(tools.list_files),
        function_tool(tools.read_log),
    ]

    def make_agent() -> Any:
        client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=0)
        return Agent(
            name="session_agent",
            model=OpenAIChatCompletionsModel(model=S.MODEL, openai_client=client),
            model_settings=ModelSettings(include_usage=True),
            tools=own,
        )

    tasks = S.script(llm, "[sessions-openai_agents]")
    out = _each(tasks, lambda t: Runner.run_sync(make_agent(), t).final_output)
    earlier = [
        {"role": "user", "content": tasks["earlier"]},
        {"role": "assistant", "content": S.EARLIER_ANSWER},
        {"role": "user", "content": tasks["history"]},
    ]
    out["history"] = S.outcome(
        tasks["history"], lambda: Runner.run_sync(make_agent(), earlier).final_output
    )
    out["tool_calls"] = tools.calls
    return out


def _langgraph(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from langchain.agents import create_agent
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    from tests.frameworks.captured.langchain_weather import report_tool_errors

    instrument_langchain(capture.provider, openllmetry=False)
    tools = S.Tools()
    own = [
        tool(tools.get_weather),
        tool(tools.nothing),
        tool(tools.list_files),
        tool(tools.read_log),
    ]
    model = ChatOpenAI(
        model=S.MODEL,
        base_url=llm.base_url,
        api_key=SecretStr("sk-scripted"),
        max_retries=0,
        stream_usage=True,
    )
    agent = create_agent(model, tools=own, name="session_agent", middleware=[report_tool_errors])

    def ask(messages: list[dict[str, str]]) -> Any:
        return agent.invoke({"messages": messages})["messages"][-1].content

    tasks = S.script(llm, "[sessions-langgraph]")
    out = _each(tasks, lambda t: ask([{"role": "user", "content": t}]))
    earlier = [
        {"role": "user", "content": tasks["earlier"]},
        {"role": "assistant", "content": S.EARLIER_ANSWER},
        {"role": "user", "content": tasks["history"]},
    ]
    out["history"] = S.outcome(tasks["history"], lambda: ask(earlier))
    out["tool_calls"] = tools.calls
    return out


def _smolagents(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
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

    @tool
    def nothing(key: str) -> str:
        """Read a key that holds nothing.

        Args:
            key: The key.
        """
        return tools.nothing(key)

    @tool
    def list_files(folder: str) -> list[dict[str, Any]]:
        """List the files of a folder.

        Args:
            folder: The folder.
        """
        return tools.list_files(folder)

    @tool
    def read_log(name: str) -> str:
        """Read a long log.

        Args:
            name: The log's name.
        """
        return tools.read_log(name)

    def make_agent() -> Any:
        model = OpenAIModel(
            model_id=S.MODEL,
            api_base=llm.base_url,
            api_key="sk-scripted",
            client_kwargs={"max_retries": 0},
        )
        return ToolCallingAgent(
            tools=[get_weather, nothing, list_files, read_log],
            model=model,
            name="session_agent",
            max_steps=8,
            verbosity_level=0,
        )

    def final(text: str) -> Any:
        return call_tool("final_answer", {"answer": text})

    tasks = S.script(llm, "[sessions-smolagents]", final=final)
    out = _each(tasks, lambda t: make_agent().run(t))
    out["tool_calls"] = tools.calls
    return out


def _strands(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    from opentelemetry import trace
    from strands import Agent, tool
    from strands.models.openai import OpenAIModel

    trace.set_tracer_provider(capture.provider)  # Strands traces through the global one
    tools = S.Tools()
    client_args = {"base_url": llm.base_url, "api_key": "sk-scripted", "max_retries": 0}
    own = [tool(tools.get_weather), tool(tools.nothing), tool(tools.list_files)]
    own.append(tool(tools.read_log))

    def make_agent(**options: Any) -> Any:
        # A model (and its client) per run: an httpx pool is bound to its first event loop.
        model = OpenAIModel(client_args=client_args, model_id=S.MODEL)
        return Agent(model=model, name="session_agent", callback_handler=None, tools=own, **options)

    tasks = S.script(llm, "[sessions-strands]")
    out = _each(tasks, lambda t: str(make_agent()(t)).strip())
    earlier = [
        {"role": "user", "content": [{"text": tasks["earlier"]}]},
        {"role": "assistant", "content": [{"text": S.EARLIER_ANSWER}]},
    ]
    out["history"] = S.outcome(
        tasks["history"], lambda: str(make_agent(messages=earlier)(tasks["history"])).strip()
    )
    out["tool_calls"] = tools.calls
    return out


def _google_adk(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    """ADK on the tests' own chat-completions ``BaseLlm``; its session (``InMemoryRunner``'s)
    in place of an earlier exchange: its runs take one message."""
    import asyncio

    from google.adk.agents import LlmAgent
    from opentelemetry import trace

    from tests.frameworks.adk_scripted_model import ScriptedChatModel
    from tests.frameworks.scenarios_adk import _conversation, _run

    trace.set_tracer_provider(capture.provider)  # ADK traces through the global one
    tools = S.Tools()
    agent = LlmAgent(
        name="session_agent",
        model=ScriptedChatModel(model=S.MODEL, base_url=llm.base_url),
        instruction="Answer briefly.",
        tools=[tools.get_weather, tools.nothing, tools.list_files, tools.read_log],
    )
    tasks = S.script(llm, "[sessions-google_adk]")
    out = _each(tasks, lambda t: asyncio.run(_run(agent, t)))
    both = S.outcome(
        tasks["greeting"],
        lambda: asyncio.run(_conversation(agent, [tasks["greeting"], tasks["followup"]])),
    )
    for shape, n in (("greeting", 0), ("followup", 1)):
        answers = both["answer"]
        out[shape] = {**both, "task": tasks[shape], "answer": answers and answers[n]}
    out["tool_calls"] = tools.calls
    return out


FRAMEWORKS: dict[str, Framework] = {
    "pydantic_ai": (("pydantic-ai-slim",), _pydantic_ai),
    "openai_agents": (
        ("openai-agents", "openinference-instrumentation-openai-agents"),
        _openai_agents,
    ),
    "langgraph": (
        ("langgraph", "langchain", "langchain-openai", "openinference-instrumentation-langchain"),
        _langgraph,
    ),
    "smolagents": (("smolagents", "openinference-instrumentation-smolagents"), _smolagents),
    "strands": (("strands-agents",), _strands),
    "google_adk": (("google-adk",), _google_adk),
}
