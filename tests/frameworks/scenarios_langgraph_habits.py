"""More LangGraph scenarios (scenario_habits.py's shapes, streamed parallel tool calls, a
prebuilt agent given its own ``ToolNode``) on ``ChatOpenAI`` against the scripted server;
under both instrumentations."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import ModelRetryMiddleware, wrap_tool_call
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool

from tests.frameworks import scenario as S
from tests.frameworks import scenario_habits as habits
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks import scenarios_langgraph
from tests.frameworks.scenarios_langgraph import (
    AGENT_NAME,
    FRAMEWORK,
    SERVED_MODEL,
    _answer,
    _expected,
    _play,
    build_agent,
    get_weather,
    model_for,
)
from tests.scripted_llm import ScriptedLLM


@wrap_tool_call
async def report_tool_errors_async(request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
    """The tool-error middleware for ``ainvoke``: the model reads the error and retries."""
    try:
        return await handler(request)
    except Exception as exc:
        return ToolMessage(
            content=f"Tool error: {exc}", tool_call_id=request.tool_call["id"], status="error"
        )


@tool
def clock() -> str:
    """The time now."""
    return habits.clock_impl()


def no_argument_tool(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool without parameters, called with ``{}``."""
    scenario = habits.no_argument_tool(FRAMEWORK)
    agent = build_agent(llm, tools=[clock])
    scenario.expect_answer(_answer(_play(llm, scenario, agent)))
    return _expected(scenario)


def text_with_tool_call(llm: ScriptedLLM) -> S.RunExpectation:
    """The model says something and calls a tool in one message, then answers."""
    scenario = habits.text_with_tool_call(FRAMEWORK)
    scenario.expect_answer(_answer(_play(llm, scenario)))
    return _expected(scenario)


async def mixed_at_once(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Four runs of one agent at once on one event loop (``ainvoke`` under ``gather``),
    each a different outcome; the tool-error middleware lets the flaky run recover."""
    scenarios = habits.mixed_at_once(FRAMEWORK, tool_error=S.FLAKY_ERROR)
    agent = build_agent(llm, middleware=[report_tool_errors_async])

    async def play(scenario: S.Scenario) -> object:
        llm.script(scenario.marker, scenario.turns)
        state = await agent.ainvoke({"messages": [{"role": "user", "content": scenario.task}]})
        return _answer(state)

    outcomes = await asyncio.gather(*(play(s) for s in scenarios), return_exceptions=True)
    return [
        replace(habits.expect_outcome(s, o), model_used=SERVED_MODEL)
        for s, o in zip(scenarios, outcomes, strict=True)
    ]


def outer_span(llm: ScriptedLLM) -> S.RunExpectation:
    """A run inside the caller's own span."""
    scenario = S.success(FRAMEWORK)
    with habits.outer_span():
        scenario.expect_answer(_answer(_play(llm, scenario)))
    return _expected(scenario)


def streamed_parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls in one streamed model turn (``streaming=True``, ``agent.stream``)."""
    from langchain.agents import create_agent

    scenario = shapes.parallel_tools(FRAMEWORK)
    llm.script(scenario.marker, scenario.turns)
    model = model_for(llm, streaming=True, stream_usage=True)
    agent = create_agent(model, tools=[get_weather], name=AGENT_NAME)
    request = {"messages": [{"role": "user", "content": scenario.task}]}
    states = list(agent.stream(request, stream_mode="values"))
    return scenario.expect_answer(_answer(states[-1]))


def prebuilt_tool_node(llm: ScriptedLLM) -> S.RunExpectation:
    """``create_react_agent`` given a ``ToolNode`` built by the caller, which hands a raising
    tool's error to the model (``handle_tool_errors=True``): the run recovers."""
    import warnings

    from langgraph.prebuilt import ToolNode, create_react_agent

    scenario = S.recovery(FRAMEWORK)
    node = ToolNode(
        [get_weather, scenarios_langgraph.add, scenarios_langgraph.flaky], handle_tool_errors=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation in favour of create_agent
        agent: Any = create_react_agent(model_for(llm), tools=node, name=AGENT_NAME)
    scenario.expect_answer(_answer(_play(llm, scenario, agent)))
    return _expected(scenario)


def model_retried(llm: ScriptedLLM) -> S.RunExpectation:
    """LangChain's ``ModelRetryMiddleware`` calls the model again after its 503: both
    attempts are model calls of the run, the first failed."""
    scenario = habits.model_retried(FRAMEWORK)
    retry = ModelRetryMiddleware(max_retries=1, initial_delay=0.01, jitter=False)
    agent = create_agent(model_for(llm), tools=[get_weather], name=AGENT_NAME, middleware=[retry])
    scenario.expect_answer(_answer(_play(llm, scenario, agent)))
    return _expected(scenario)


def two_in_one_span(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two runs one after the other inside one caller span (one trace): two top-level runs,
    each with its own steps, tokens and answer; the span no run."""
    first, second = S.success(FRAMEWORK), S.recovery(FRAMEWORK)
    with habits.outer_span():
        first.expect_answer(_answer(_play(llm, first)))
        recovering = build_agent(llm, middleware=[scenarios_langgraph.report_tool_errors])
        second.expect_answer(_answer(_play(llm, second, recovering)))
    return [_expected(first), _expected(second)]
