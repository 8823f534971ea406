"""Run one framework on the failure shapes of failures_scenario.py against the scripted model
(a model server failing through every retry, a rate limit retried, and the framework's own
limits and validation retries), and write the spans it exported, as OTLP protobuf, plus
what the framework returned.

    VENV/bin/python -m tests.frameworks.captured.capture_failures FRAMEWORK [OUT_DIR]

FRAMEWORK is ``pydantic_ai`` (its own instrumentation), ``openai_agents`` (OpenInference),
``langgraph`` (OpenInference), ``langgraph_openllmetry``, ``strands`` (its own spans) or
``smolagents`` (OpenInference); the files are ``failures_<FRAMEWORK>.otlp`` and
``.expected.json``. The OpenAI client retries as it does by default (``max_retries=2``),
except where the framework's own retry is the one played: Strands' ``ModelRetryStrategy``
and smolagents' rate-limit retry (their waits shortened). The framework's own shapes:

- pydantic-ai: a token budget exceeded (``UsageLimits(total_tokens_limit=...)``), an output
  that fails validation past the agent's ``retries``, a tool raising ``ModelRetry`` past them;
- the Agents SDK: an ``output_type`` answered with text that is no JSON;
- LangGraph: a structured answer (``ToolStrategy``) first invalid, retried, then valid;
- Strands: an answer cut at the model's token limit (finish reason ``length``);
- smolagents: a rate limit retried until its attempts run out.
"""

from __future__ import annotations

from typing import Any

from tests.frameworks.captured import failures_scenario as F
from tests.frameworks.captured.capture_driver import (
    Framework,
    instrument_langchain,
    outcome,
    run_main,
)
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, Turn, answer, call_tool, fail

MODEL = "scripted-failures"
WEATHER_JSON = {"city": "Paris", "temp": 21}


def _pydantic_ai(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from openai import AsyncOpenAI
    from pydantic import BaseModel
    from pydantic_ai import Agent, ModelRetry
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.usage import UsageLimits

    class Weather(BaseModel):
        city: str
        temp: int

    Agent.instrument_all(InstrumentationSettings(tracer_provider=capture.provider))
    tools = F.Tools()
    client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=2)
    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client))
    agent: Agent[None, str] = Agent(model, name="failure_agent", tools=[tools.get_weather])

    def flaky_city(city: str) -> str:
        """The weather in a city, once its service answers."""
        raise ModelRetry(f"the weather service for {city} is down, try again")

    retrying: Agent[None, str] = Agent(model, name="failure_agent", retries=1,
                                       tools=[flaky_city])  # fmt: skip
    marker = "[failures-pydantic_ai]"
    tasks = F.script(llm, marker)
    out = {s: outcome(t, lambda t=t: agent.run_sync(t).output) for s, t in tasks.items()}

    budget = f"{marker}-budget Keep checking the weather in Paris."
    llm.script(budget, F.weather_turns(5))
    limits = UsageLimits(total_tokens_limit=200)
    out["token_budget"] = outcome(
        budget, lambda: agent.run_sync(budget, usage_limits=limits).output
    )

    invalid = f"{marker}-invalid-output Give the weather in Paris as a record."
    wrong = call_tool("final_result", {"city": "Paris", "temp": "warm"})
    llm.script(invalid, [wrong], then_repeat=wrong)
    records = Agent(model, name="failure_agent", output_type=Weather, retries=1)
    out["output_retries_exhausted"] = outcome(invalid, lambda: records.run_sync(invalid).output)

    flaky = f"{marker}-tool-retries What is the weather in Lyon?"
    ask = call_tool("flaky_city", {"city": "Lyon"})
    llm.script(flaky, [ask], then_repeat=ask)
    out["tool_retries_exhausted"] = outcome(flaky, lambda: retrying.run_sync(flaky).output)
    return out


def _openai_agents(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        temp: int

    OpenAIAgentsInstrumentor().instrument(
        tracer_provider=capture.provider, exclusive_processor=True
    )
    tools = F.Tools()

    def make_agent(**options: Any) -> Any:
        # A client per event loop (run_sync starts one each): an httpx pool is bound to it.
        client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=2)
        model = OpenAIChatCompletionsModel(model=MODEL, openai_client=client)
        return Agent(name="failure_agent", model=model,
                     tools=[function_tool(tools.get_weather)], **options)  # fmt: skip

    marker = "[failures-openai_agents]"
    tasks = F.script(llm, marker)
    out = {
        s: outcome(t, lambda t=t: Runner.run_sync(make_agent(), t).final_output)
        for s, t in tasks.items()
    }
    invalid = f"{marker}-invalid-output Give the weather in Paris as a record."
    llm.script(invalid, [answer("Sunny and 21 degrees in Paris.")])
    out["invalid_output"] = outcome(
        invalid, lambda: Runner.run_sync(make_agent(output_type=Weather), invalid).final_output
    )
    return out


def _langgraph(capture: Capture, llm: ScriptedLLM, openllmetry: bool) -> dict[str, Any]:
    from langchain.agents import create_agent
    from langchain.agents.structured_output import ToolStrategy
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel, SecretStr

    class Weather(BaseModel):
        """The weather in a city."""

        city: str
        temp: int

    instrument_langchain(capture.provider, openllmetry)
    tools = F.Tools()
    model = ChatOpenAI(model=MODEL, base_url=llm.base_url, api_key=SecretStr("sk-scripted"),
                       max_retries=2)  # fmt: skip
    agent = create_agent(model, tools=[tool(tools.get_weather)], name="failure_agent")
    marker = "[failures-langgraph_openllmetry]" if openllmetry else "[failures-langgraph]"
    tasks = F.script(llm, marker)

    def ask(graph: Any, task: str) -> Any:
        state = graph.invoke({"messages": [{"role": "user", "content": task}]})
        return state.get("structured_response") or state["messages"][-1].content

    out = {s: outcome(t, lambda t=t: ask(agent, t)) for s, t in tasks.items()}
    structured = create_agent(model, tools=[tool(tools.get_weather)], name="failure_agent",
                              response_format=ToolStrategy(Weather))  # fmt: skip
    retried = f"{marker}-output-retried Give the weather in Paris as a record."
    llm.script(retried, [call_tool("Weather", {"city": "Paris", "temp": "warm"}),
                         call_tool("Weather", WEATHER_JSON)])  # fmt: skip
    seen = outcome(retried, lambda: ask(structured, retried))
    if seen["answer"] is not None:
        seen["answer"] = seen["answer"].model_dump()
    out["output_retried"] = seen
    return out


def _strands(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from opentelemetry import trace
    from strands import Agent, ModelRetryStrategy, tool
    from strands.models.openai import OpenAIModel

    trace.set_tracer_provider(capture.provider)  # Strands traces through the global one
    tools = F.Tools()

    def make_agent(client_retries: int) -> Any:
        # A model (and its client) per event loop: an httpx pool is bound to its first loop.
        client_args = {"base_url": llm.base_url, "api_key": "sk-scripted",
                       "max_retries": client_retries}  # fmt: skip
        model = OpenAIModel(client_args=client_args, model_id=MODEL)
        # Strands' own retry of a throttled model (by default 4 s, doubling, 6 attempts).
        retry = ModelRetryStrategy(max_attempts=3, initial_delay=1, max_delay=2)
        return Agent(model=model, name="failure_agent", callback_handler=None,
                     tools=[tool(tools.get_weather)], retry_strategy=retry)  # fmt: skip

    marker = "[failures-strands]"
    tasks = F.script(llm, marker)
    # A 500 is no throttling: only the client retries it. A 429 is: Strands retries it.
    retries = {"exhausted": 2, "throttled": 0}
    out = {
        s: outcome(t, lambda t=t, s=s: str(make_agent(retries[s])(t)).strip())
        for s, t in tasks.items()
    }
    cut = f"{marker}-cut Describe the weather in Paris at length."
    llm.script(cut, [Turn(content="The weather in Paris is", finish_reason="length",
                          output_tokens=64)])  # fmt: skip
    out["max_tokens"] = outcome(cut, lambda: str(make_agent(2)(cut)).strip())
    return out


def _smolagents(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor
    from smolagents import OpenAIModel, ToolCallingAgent, tool

    SmolagentsInstrumentor().instrument(tracer_provider=capture.provider)
    tools = F.Tools()

    @tool
    def get_weather(city: str) -> str:
        """The current weather in a city.

        Args:
            city: The city.
        """
        return tools.get_weather(city)

    def make_agent(client_retries: int) -> Any:
        model = OpenAIModel(model_id=MODEL, api_base=llm.base_url, api_key="sk-scripted",
                            client_kwargs={"max_retries": client_retries})  # fmt: skip
        # smolagents retries a rate-limited call itself (RETRY_MAX_ATTEMPTS, 60 s apart).
        model.retryer.wait_seconds = 0.5
        return ToolCallingAgent(tools=[get_weather], model=model, name="failure_agent",
                                max_steps=6, verbosity_level=0)  # fmt: skip

    def final(text: str) -> Turn:
        return call_tool("final_answer", {"answer": text})

    marker = "[failures-smolagents]"
    tasks = F.script(llm, marker, final=final)
    # A 500 is retried by the client only; a 429 by smolagents (the client's retries off).
    retries = {"exhausted": 2, "throttled": 0}
    out = {s: outcome(t, lambda t=t, s=s: make_agent(retries[s]).run(t)) for s, t in tasks.items()}
    limited = f"{marker}-rate-limited What is the weather in Paris, if ever?"
    llm.script(limited, [], then_repeat=fail(429, F.RATE_LIMITED))
    out["rate_limited"] = outcome(limited, lambda: make_agent(0).run(limited))
    return out


FRAMEWORKS: dict[str, Framework] = {
    "pydantic_ai": (("pydantic-ai-slim",), _pydantic_ai),
    "openai_agents": (
        ("openai-agents", "openinference-instrumentation-openai-agents"),
        _openai_agents,
    ),
    "langgraph": (
        ("langgraph", "langchain", "langchain-openai", "openinference-instrumentation-langchain"),
        lambda capture, llm: _langgraph(capture, llm, openllmetry=False),
    ),
    "langgraph_openllmetry": (
        ("langgraph", "langchain", "langchain-openai", "opentelemetry-instrumentation-langchain"),
        lambda capture, llm: _langgraph(capture, llm, openllmetry=True),
    ),
    "strands": (("strands-agents",), _strands),
    "smolagents": (("smolagents", "openinference-instrumentation-smolagents"), _smolagents),
}


if __name__ == "__main__":
    run_main("failures", FRAMEWORKS)
