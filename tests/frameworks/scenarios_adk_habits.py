"""More Google ADK scenarios (scenario_habits.py's shapes, streamed parallel tool calls, a
``before_tool_callback`` answering for a tool) on the scripted chat model."""

from __future__ import annotations

import asyncio
from typing import Any

from google.adk.agents.run_config import RunConfig, StreamingMode

from tests.frameworks import scenario as S
from tests.frameworks import scenario_habits as habits
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.scenarios_adk import (
    FRAMEWORK,
    _play,
    _run,
    build_agent,
    flaky_raises,
    get_weather,
)
from tests.scripted_llm import ScriptedLLM, call_tool


def clock() -> str:
    """The time now."""
    return habits.clock_impl()


def no_argument_tool(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool without parameters, called with ``{}``."""
    scenario = habits.no_argument_tool(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario, build_agent(llm, tools=[clock])))


def text_with_tool_call(llm: ScriptedLLM) -> S.RunExpectation:
    """The model says something and calls a tool in one response, then answers."""
    scenario = habits.text_with_tool_call(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


async def mixed_at_once(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Four runs of one agent at once on one event loop (``run_async`` under ``gather``),
    each a different outcome; a raising tool ends an ADK run, so its failing-tool run fails
    (there is no recovery to play)."""
    scenarios = [shapes.parallel_tools(FRAMEWORK), flaky_raises(), S.model_failure(FRAMEWORK),
                 S.success(FRAMEWORK)]  # fmt: skip
    agent = build_agent(llm)

    async def play(scenario: S.Scenario) -> object:
        llm.script(scenario.marker, scenario.turns)
        return await _run(agent, scenario.task)

    outcomes = await asyncio.gather(*(play(s) for s in scenarios), return_exceptions=True)
    return [habits.expect_outcome(s, o) for s, o in zip(scenarios, outcomes, strict=True)]


def outer_span(llm: ScriptedLLM) -> S.RunExpectation:
    """A run inside the caller's own span."""
    scenario = S.success(FRAMEWORK)
    with habits.outer_span():
        return scenario.expect_answer(_play(llm, scenario))


def streamed_parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls in one streamed turn (``StreamingMode.SSE``)."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    streamed = RunConfig(streaming_mode=StreamingMode.SSE)
    agent = build_agent(llm, tools=[get_weather])
    return scenario.expect_answer(_play(llm, scenario, agent, run_config=streamed))


CACHED = {"forecast": "sunny in Paris (cached)"}


def _cached_weather(tool: Any, args: dict[str, Any], tool_context: Any) -> dict[str, Any] | None:
    """A ``before_tool_callback`` answering ``get_weather`` from a cache: the tool is not
    run, the callback's dict is its response."""
    return dict(CACHED) if tool.name == "get_weather" else None


def tool_callback(llm: ScriptedLLM) -> S.RunExpectation:
    """A ``before_tool_callback`` answers for the weather tool: the step shows the arguments
    the model gave and the callback's response."""
    scenario = S.scenario(
        FRAMEWORK,
        "callback",
        "What is the weather in Paris?",
        [call_tool("get_weather", S.WEATHER_ARGS), FRAMEWORK.final_turn(habits.LOOKED_ANSWER)],
        status="completed",
        final_answer=habits.LOOKED_ANSWER,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, "sunny in Paris (cached)")],
        llm_steps_at_least=2,
    )
    agent = build_agent(llm).model_copy(update={"before_tool_callback": _cached_weather})
    return scenario.expect_answer(_play(llm, scenario, agent))


def two_in_one_span(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two runs one after the other inside one caller span (one trace): two top-level runs,
    each with its own steps, tokens and answer; the span no run."""
    # A tool that raises ends an ADK run, so no recovery here: two successful runs.
    first, second = S.success(FRAMEWORK), S.success(FRAMEWORK)
    with habits.outer_span():
        return [first.expect_answer(_play(llm, first)), second.expect_answer(_play(llm, second))]
