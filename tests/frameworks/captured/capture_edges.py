"""Run one framework on the edge shapes of edges_scenario.py (a refusal, a content filter, a
run of 50 tool calls, hostile text in a tool's arguments and result, a run cancelled while a
tool runs; for the OpenAI Agents SDK also a hand-off chain of three agents) against the
scripted model, and write the spans it exported, as OTLP protobuf (gzipped: each model call
of the long run carries the whole conversation), plus what the framework returned.

    VENV/bin/python -m tests.frameworks.captured.capture_edges FRAMEWORK [OUT_DIR]

FRAMEWORK is ``pydantic_ai`` (its own instrumentation), ``openai_agents`` (OpenInference),
``langgraph`` (OpenInference), ``langgraph_openllmetry``, ``strands`` (its own spans),
``google_adk`` (its own spans; no refusal or filter shapes: its model here is the tests' own
adapter) or ``smolagents`` (OpenInference; no cancelled run: it runs
synchronously); the files are ``edges_<FRAMEWORK>.otlp.gz`` and ``.expected.json``. The
spans keep as many attributes as the provider ``instrumentation.configure()`` installs keeps
(the SDK's default 128 drops the oldest of a long conversation's flattened messages, and the
model's name).
"""

from __future__ import annotations

import asyncio
from typing import Any

from opentelemetry.sdk.trace import SpanLimits

from instrumentation.setup import SPAN_ATTRIBUTE_COUNT
from tests.frameworks.captured import edges_scenario as E
from tests.frameworks.captured.capture_driver import Framework, instrument_langchain, run_main
from tests.frameworks.captured.capture_driver import outcome as _outcome
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, answer, call_tool

Outcome = dict[str, Any]


def _pydantic_ai(capture: Capture, llm: ScriptedLLM) -> dict[str, Outcome]:
    from openai import AsyncOpenAI
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.usage import UsageLimits

    Agent.instrument_all(InstrumentationSettings(tracer_provider=capture.provider))
    tools = E.Tools()

    def make_agent() -> Agent[None, str]:
        # A client per event loop: an httpx pool is bound to the loop it first ran in.
        client = AsyncOpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        model = OpenAIChatModel("scripted-edges", provider=OpenAIProvider(openai_client=client))
        return Agent(model, name="edge_agent", tools=[tools.tick, tools.lookup, tools.wait_forever])

    agent = make_agent()
    tasks = E.script(llm, "[edges-pydantic_ai]")
    limits = UsageLimits(request_limit=E.LONG_CALLS + 10)
    out = {
        shape: _outcome(task, lambda t=task: agent.run_sync(t, usage_limits=limits).output)
        for shape, task in tasks.items()
        if shape != "cancelled"
    }
    start = lambda: make_agent().run(tasks["cancelled"])  # noqa: E731
    out["cancelled"] = E.cancelled(tasks["cancelled"], start, tools)
    return out


def _openai_agents(capture: Capture, llm: ScriptedLLM) -> dict[str, Outcome]:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    OpenAIAgentsInstrumentor().instrument(
        tracer_provider=capture.provider, exclusive_processor=True
    )
    tools = E.Tools()

    def make_agent() -> Any:
        # A client per event loop: an httpx pool is bound to the loop it first ran in.
        client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=0)
        model = OpenAIChatCompletionsModel(model="scripted-edges", openai_client=client)
        return Agent(
            name="edge_agent",
            model=model,
            tools=[
                function_tool(tools.tick),
                function_tool(tools.lookup),
                function_tool(tools.wait_forever),
            ],  # fmt: skip
        )

    agent = make_agent()
    model = agent.model
    tasks = E.script(llm, "[edges-openai_agents]")
    turns = E.LONG_CALLS + 10
    out = {
        shape: _outcome(
            task, lambda t=task: Runner.run_sync(agent, t, max_turns=turns).final_output
        )
        for shape, task in tasks.items()
        if shape != "cancelled"
    }

    # A hand-off chain: triage hands over to billing, billing to refunds, which answers.
    refunds = Agent(name="refunds", model=model, instructions="Refund orders.")
    billing = Agent(name="billing", model=model, handoffs=[refunds])
    triage = Agent(name="triage", model=model, handoffs=[billing])
    chain = "[edges-openai_agents-chain] I want my money back for order 42."
    llm.script(chain, [call_tool("transfer_to_billing", {}), call_tool("transfer_to_refunds", {}),
                       answer("Order 42 is refunded.")])  # fmt: skip
    out["handoff_chain"] = _outcome(chain, lambda: Runner.run_sync(triage, chain).final_output)
    start = lambda: Runner.run(make_agent(), tasks["cancelled"])  # noqa: E731
    out["cancelled"] = E.cancelled(tasks["cancelled"], start, tools)
    return out


def _langgraph(capture: Capture, llm: ScriptedLLM, openllmetry: bool) -> dict[str, Outcome]:
    from langchain.agents import create_agent
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    instrument_langchain(capture.provider, openllmetry)
    tools = E.Tools()
    model = ChatOpenAI(model="scripted-edges", base_url=llm.base_url,
                       api_key=SecretStr("sk-scripted"), max_retries=0)  # fmt: skip
    agent = create_agent(
        model,
        tools=[tool(tools.tick), tool(tools.lookup), tool(tools.wait_forever)],
        name="edge_agent",
    )
    tasks = E.script(llm, "[edges-langgraph_openllmetry]" if openllmetry else "[edges-langgraph]")
    config = {"recursion_limit": 3 * E.LONG_CALLS + 10}

    def ask(task: str) -> Any:
        state = agent.invoke({"messages": [{"role": "user", "content": task}]}, config)
        return state["messages"][-1].content

    out = {
        shape: _outcome(task, lambda t=task: ask(t))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }
    request = {"messages": [{"role": "user", "content": tasks["cancelled"]}]}
    out["cancelled"] = E.cancelled(tasks["cancelled"], lambda: agent.ainvoke(request), tools)
    return out


def _strands(capture: Capture, llm: ScriptedLLM) -> dict[str, Outcome]:
    from opentelemetry import trace
    from strands import Agent, tool
    from strands.models.openai import OpenAIModel

    trace.set_tracer_provider(capture.provider)  # Strands traces through the global one
    tools = E.Tools()
    client_args = {"base_url": llm.base_url, "api_key": "sk-scripted", "max_retries": 0}

    def make_agent() -> Any:
        # A model (and its client) per event loop: an httpx pool is bound to its first loop.
        model = OpenAIModel(client_args=client_args, model_id="scripted-edges")
        own = [tool(tools.tick), tool(tools.lookup), tool(tools.wait_forever)]
        return Agent(model=model, name="edge_agent", callback_handler=None, tools=own)

    tasks = E.script(llm, "[edges-strands]")
    out = {
        shape: _outcome(task, lambda t=task: str(make_agent()(t)).strip())
        for shape, task in tasks.items()
        if shape != "cancelled"
    }
    start = lambda: make_agent().invoke_async(tasks["cancelled"])  # noqa: E731
    out["cancelled"] = E.cancelled(tasks["cancelled"], start, tools)
    return out


def _google_adk(capture: Capture, llm: ScriptedLLM) -> dict[str, Outcome]:
    """ADK on the tests' own chat-completions ``BaseLlm``: no refusal or filter shapes (how
    that adapter reads them is the tests', not ADK's)."""
    from google.adk.agents import LlmAgent
    from opentelemetry import trace

    from tests.frameworks.adk_scripted_model import ScriptedChatModel
    from tests.frameworks.scenarios_adk import _run

    trace.set_tracer_provider(capture.provider)  # ADK traces through the global one
    tools = E.Tools()
    agent = LlmAgent(
        name="edge_agent",
        model=ScriptedChatModel(model="scripted-edges", base_url=llm.base_url),
        instruction="Answer briefly.",
        tools=[tools.tick, tools.lookup, tools.wait_forever],
    )
    tasks = E.script(llm, "[edges-google_adk]")
    out = {
        shape: _outcome(task, lambda t=task: asyncio.run(_run(agent, t)))
        for shape, task in tasks.items()
        if shape in ("long", "hostile")
    }
    out["cancelled"] = E.cancelled(
        tasks["cancelled"], lambda: _run(agent, tasks["cancelled"]), tools
    )
    return out


def _smolagents(capture: Capture, llm: ScriptedLLM) -> dict[str, Outcome]:
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor
    from smolagents import OpenAIModel, ToolCallingAgent, tool

    SmolagentsInstrumentor().instrument(tracer_provider=capture.provider)
    tools = E.Tools()

    @tool
    def tick(n: int) -> str:
        """Count one tick.

        Args:
            n: The tick's number.
        """
        return tools.tick(n)

    @tool
    def lookup(query: str) -> str:
        """Look a query up.

        Args:
            query: What to look up.
        """
        return tools.lookup(query)

    model = OpenAIModel(model_id="scripted-edges", api_base=llm.base_url, api_key="sk-scripted",
                        client_kwargs={"max_retries": 0})  # fmt: skip
    agent = ToolCallingAgent(tools=[tick, lookup], model=model, name="edge_agent",
                             max_steps=E.LONG_CALLS + 10, verbosity_level=0)  # fmt: skip
    tasks = E.script(
        llm, "[edges-smolagents]", final=lambda text: call_tool("final_answer", {"answer": text})
    )
    # A model that declines is asked again until the step limit: two steps for those.
    steps = {"refusal": 2, "content_filter": 2}
    return {
        shape: _outcome(task, lambda t=task, s=shape: agent.run(t, max_steps=steps.get(s)))
        for shape, task in tasks.items()
        if shape != "cancelled"
    }


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
    "google_adk": (("google-adk",), _google_adk),
    "smolagents": (("smolagents", "openinference-instrumentation-smolagents"), _smolagents),
}


if __name__ == "__main__":
    limits = SpanLimits(max_span_attributes=SPAN_ATTRIBUTE_COUNT)
    run_main("edges", FRAMEWORKS, span_limits=limits, packed=True)
