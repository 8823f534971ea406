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
  that fails validation past the agent's ``retries``, a tool raising ``ModelRetry`` past them,
  a manager's tool running another agent on the manager's usage past the request limit;
- the Agents SDK (with ``instrumentation.auto``'s additions to OpenInference's spans): an
  ``output_type`` answered with text that is no JSON, a tool input guardrail rejecting the
  call and one raising, a tool output guardrail rejecting the result and one raising, an
  agent used as a tool (``as_tool``) stopped by its own ``max_turns``;
- LangGraph: a structured answer (``ToolStrategy``) first invalid, retried, then valid; a
  tool running a sub-agent stopped by its ``recursion_limit``;
- Strands: an answer cut at the model's token limit (finish reason ``length``), a tool
  running another agent whose model fails;
- smolagents: a rate limit retried until its attempts run out; a managed agent whose model
  fails.
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
    out["child_request_limit"] = _pydantic_ai_delegated(llm, model, tools, marker)
    return out


def _pydantic_ai_delegated(llm: ScriptedLLM, model: Any, tools: F.Tools, marker: str) -> Any:
    """Agent delegation as pydantic-ai documents it: a manager's tool runs another agent on
    the manager's usage (``usage=ctx.usage``), so the child's request limit counts both."""
    from pydantic_ai import Agent, RunContext
    from pydantic_ai.usage import UsageLimits

    # pydantic-ai resolves a tool's annotations in its module's globals (they are strings here).
    globals().setdefault("RunContext", RunContext)
    child: Agent[None, str] = Agent(model, name="forecaster", tools=[tools.get_weather])
    manager: Agent[None, str] = Agent(model, name="manager")
    limits = UsageLimits(request_limit=3)

    @manager.tool
    async def ask_forecaster(ctx: RunContext[None], question: str) -> str:
        """Ask the forecaster."""
        result = await child.run(question, usage=ctx.usage, usage_limits=limits)
        return result.output

    task = f"{marker}-child-limit Ask the forecaster about Paris."
    child_task = f"{marker}-child-limit-inner Forecast Paris."
    llm.script(task, [call_tool("ask_forecaster", {"question": child_task})])
    llm.script(child_task, F.weather_turns(5))
    seen = outcome(task, lambda: manager.run_sync(task, usage_limits=limits).output)
    return {**seen, "child_task": child_task}


def _openai_agents(capture: Capture, llm: ScriptedLLM) -> dict[str, Any]:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        temp: int

    from instrumentation.agents_sdk_spans import complete_agents_sdk_spans

    OpenAIAgentsInstrumentor().instrument(
        tracer_provider=capture.provider, exclusive_processor=True
    )
    complete_agents_sdk_spans()  # as instrumentation.auto.instrument() does
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
    out.update(_openai_agents_guarded(llm, make_agent, tools, marker))
    return out


def _openai_agents_guarded(
    llm: ScriptedLLM, make_agent: Any, tools: F.Tools, marker: str
) -> dict[str, Any]:
    """A tool input guardrail that rejects the call (the model is told instead) and one
    that raises, a tool output guardrail that rejects the result and one that raises; an
    agent used as a tool (``as_tool``) stopped by its own ``max_turns``."""
    from agents import (
        Runner,
        ToolGuardrailFunctionOutput,
        function_tool,
        tool_input_guardrail,
        tool_output_guardrail,
    )

    @tool_input_guardrail
    def no_paris(data: Any) -> ToolGuardrailFunctionOutput:
        if "Paris" in str(data.context.tool_arguments):
            return ToolGuardrailFunctionOutput.reject_content(F.GUARDED)
        return ToolGuardrailFunctionOutput.allow()

    @tool_input_guardrail
    def no_weather(data: Any) -> ToolGuardrailFunctionOutput:
        return ToolGuardrailFunctionOutput.raise_exception(output_info="weather is off limits")

    @tool_output_guardrail
    def no_forecasts(data: Any) -> ToolGuardrailFunctionOutput:
        if "Sunny" in str(data.output):
            return ToolGuardrailFunctionOutput.reject_content(F.WITHHELD)
        return ToolGuardrailFunctionOutput.allow()

    @tool_output_guardrail
    def no_results(data: Any) -> ToolGuardrailFunctionOutput:
        return ToolGuardrailFunctionOutput.raise_exception(output_info="results are off limits")

    def guarded(check: Any, on: str = "input") -> Any:
        own = function_tool(tools.get_weather, **{f"tool_{on}_guardrails": [check]})
        return make_agent().clone(tools=[own])

    out: dict[str, Any] = {}
    rejected = f"{marker}-tool-rejected What is the weather in Paris, if allowed?"
    llm.script(rejected, [call_tool("get_weather", F.CITY), answer(F.REFUSED_ANSWER)])
    out["tool_guardrail_rejected"] = outcome(
        rejected, lambda: Runner.run_sync(guarded(no_paris), rejected).final_output
    )
    tripped = f"{marker}-tool-tripped What is the weather in Paris, guarded?"
    llm.script(tripped, [call_tool("get_weather", F.CITY)])
    out["tool_guardrail_tripped"] = outcome(
        tripped, lambda: Runner.run_sync(guarded(no_weather), tripped).final_output
    )
    withheld = f"{marker}-result-rejected What is the weather in Paris, if it may be said?"
    llm.script(withheld, [call_tool("get_weather", F.CITY), answer(F.WITHHELD_ANSWER)])
    out["tool_output_guardrail_rejected"] = outcome(
        withheld, lambda: Runner.run_sync(guarded(no_forecasts, "output"), withheld).final_output
    )
    result_tripped = f"{marker}-result-tripped What is the weather in Paris, checked?"
    llm.script(result_tripped, [call_tool("get_weather", F.CITY)])
    out["tool_output_guardrail_tripped"] = outcome(
        result_tripped,
        lambda: Runner.run_sync(guarded(no_results, "output"), result_tripped).final_output,
    )

    def manager() -> Any:
        child = make_agent().clone(name="forecaster")
        tool = child.as_tool(tool_name="ask_forecaster", tool_description="Ask the forecaster.",
                             max_turns=1)  # fmt: skip
        return make_agent().clone(name="manager", tools=[tool])

    delegated = f"{marker}-child-limit Ask the forecaster about Paris."
    child_task = f"{marker}-child-limit-inner Forecast Paris."
    llm.script(delegated, [call_tool("ask_forecaster", {"input": child_task}),
                           answer(F.CHILD_GAVE_UP)])  # fmt: skip
    llm.script(child_task, F.weather_turns(3))
    out["child_max_turns"] = outcome(
        delegated, lambda: Runner.run_sync(manager(), delegated).final_output
    )
    out["child_max_turns"]["child_task"] = child_task
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

    # A sub-agent behind a tool stopped by its own recursion limit: the tool raises
    # GraphRecursionError, which LangChain's tool node does not catch.
    child = create_agent(model, tools=[tool(tools.get_weather)], name="forecaster")

    @tool
    def ask_forecaster(question: str) -> str:
        """Ask the forecaster."""
        return str(ask_limited(child, question))

    def ask_limited(graph: Any, task: str) -> Any:
        config = {"recursion_limit": 4}
        state = graph.invoke({"messages": [{"role": "user", "content": task}]}, config)
        return state["messages"][-1].content

    manager = create_agent(model, tools=[ask_forecaster], name="manager")
    delegated = f"{marker}-child-limit Ask the forecaster about Paris."
    child_task = f"{marker}-child-limit-inner Forecast Paris."
    llm.script(delegated, [call_tool("ask_forecaster", {"question": child_task})])
    llm.script(child_task, F.weather_turns(5))
    out["child_recursion_limit"] = {
        **outcome(delegated, lambda: ask(manager, delegated)),
        "child_task": child_task,
    }
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

    # Agents as tools (Strands' pattern): a tool runs another agent, whose model fails; the
    # tool raises, Strands tells the manager's model the error, and the manager answers.
    def forecaster() -> Any:
        model = OpenAIModel(client_args={"base_url": llm.base_url, "api_key": "sk-scripted",
                                         "max_retries": 0}, model_id=MODEL)  # fmt: skip
        return Agent(model=model, name="forecaster", callback_handler=None,
                     tools=[tool(tools.get_weather)])  # fmt: skip

    @tool
    def ask_forecaster(question: str) -> str:
        """Ask the forecaster."""
        return str(forecaster()(question)).strip()

    delegated = f"{marker}-child-fails Ask the forecaster about Paris."
    child_task = f"{marker}-child-fails-inner Forecast Paris."
    llm.script(delegated, [call_tool("ask_forecaster", {"question": child_task}),
                           answer(F.CHILD_GAVE_UP)])  # fmt: skip
    llm.script(child_task, [call_tool("get_weather", F.CITY, **F.CALL_TOKENS)],
               then_repeat=fail(500, F.SERVER_ERROR))  # fmt: skip

    def manager() -> Any:
        model = OpenAIModel(client_args={"base_url": llm.base_url, "api_key": "sk-scripted",
                                         "max_retries": 0}, model_id=MODEL)  # fmt: skip
        return Agent(model=model, name="manager", callback_handler=None, tools=[ask_forecaster])

    seen = outcome(delegated, lambda: str(manager()(delegated)).strip())
    out["child_fails"] = {**seen, "child_task": child_task}
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

    # A managed agent whose model fails: smolagents tells the manager the team member's
    # error, and the manager answers.
    forecaster = make_agent(0)
    forecaster.name, forecaster.description = "forecaster", "Forecasts the weather."
    manager = ToolCallingAgent(tools=[], model=make_agent(0).model, name="manager",
                               managed_agents=[forecaster], max_steps=4,
                               verbosity_level=0)  # fmt: skip
    delegated = f"{marker}-child-fails Ask the forecaster about Paris."
    child_task = f"{marker}-child-fails-inner Forecast Paris."
    llm.script(delegated, [call_tool("forecaster", {"task": child_task}),
                           final(F.CHILD_GAVE_UP)])  # fmt: skip
    llm.script(child_task, [call_tool("get_weather", F.CITY, **F.CALL_TOKENS)],
               then_repeat=fail(500, F.SERVER_ERROR))  # fmt: skip
    seen = outcome(delegated, lambda: manager.run(delegated))
    out["child_fails"] = {**seen, "child_task": child_task}
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
