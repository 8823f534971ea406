"""More Strands scenarios (scenario_habits.py's shapes, ``stream_async`` with two tool calls
in one turn) on Strands' ``OpenAIModel`` against the scripted server."""

from __future__ import annotations

import asyncio

from strands import Agent, tool
from strands.models.openai import OpenAIModel

from tests.frameworks import scenario as S
from tests.frameworks import scenario_habits as habits
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.scenarios_strands import (
    AGENT_NAME,
    FRAMEWORK,
    MODEL_NAME,
    _play,
    build_agent,
    get_weather,
)
from tests.scripted_llm import ScriptedLLM


@tool
def clock() -> str:
    """The time now."""
    return habits.clock_impl()


def no_argument_tool(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool without parameters, called with ``{}``."""
    scenario = habits.no_argument_tool(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario, build_agent(llm, tools=[clock])))


def text_with_tool_call(llm: ScriptedLLM) -> S.RunExpectation:
    """The model says something and calls a tool in one message, then answers."""
    scenario = habits.text_with_tool_call(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


async def mixed_at_once(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Four runs at once on one event loop (``invoke_async`` under ``gather``; an agent runs
    one invocation at a time, so one agent each), each a different outcome."""
    scenarios = habits.mixed_at_once(FRAMEWORK)

    async def play(scenario: S.Scenario) -> object:
        llm.script(scenario.marker, scenario.turns)
        return str(await build_agent(llm).invoke_async(scenario.task)).strip()

    outcomes = await asyncio.gather(*(play(s) for s in scenarios), return_exceptions=True)
    return [habits.expect_outcome(s, o) for s, o in zip(scenarios, outcomes, strict=True)]


def outer_span(llm: ScriptedLLM) -> S.RunExpectation:
    """A run inside the caller's own span."""
    scenario = S.success(FRAMEWORK)
    with habits.outer_span():
        return scenario.expect_answer(_play(llm, scenario))


async def streamed_parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """``stream_async``: the caller reads the agent's events as they come; one model turn
    asks for two tool calls."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    llm.script(scenario.marker, scenario.turns)
    result = None
    async for event in build_agent(llm, tools=[get_weather]).stream_async(scenario.task):
        result = event.get("result", result)
    return scenario.expect_answer(str(result).strip())


def model_retried(llm: ScriptedLLM) -> S.RunExpectation:
    """The OpenAI client under Strands' ``OpenAIModel`` retries the 503 itself."""
    scenario = habits.model_retried(FRAMEWORK)
    client_args = {"base_url": llm.base_url, "api_key": "sk-scripted", "max_retries": 1}
    model = OpenAIModel(client_args=client_args, model_id=MODEL_NAME)
    agent = Agent(model=model, tools=[get_weather], name=AGENT_NAME, callback_handler=None)
    return scenario.expect_answer(_play(llm, scenario, agent))


def two_in_one_span(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two runs one after the other inside one caller span (one trace): two top-level runs,
    each with its own steps, tokens and answer; the span no run."""
    first, second = S.success(FRAMEWORK), S.recovery(FRAMEWORK)
    with habits.outer_span():
        return [first.expect_answer(_play(llm, first)), second.expect_answer(_play(llm, second))]
