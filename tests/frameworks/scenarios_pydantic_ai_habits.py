"""More pydantic-ai scenarios (scenario_habits.py's shapes, streamed tool calls,
``Agent.iter``) on the scripted ``FunctionModel``."""

from __future__ import annotations

import asyncio

from pydantic_ai.models.function import FunctionModel

from tests.frameworks import scenario as S
from tests.frameworks import scenario_habits as habits
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.scenarios_pydantic_ai import (
    FRAMEWORK,
    MODEL_NAME,
    _play,
    _script,
    _streamed,
    build_agent,
)


async def no_argument_tool() -> S.RunExpectation:
    """A tool without parameters, called with ``{}``."""
    scenario = habits.no_argument_tool(FRAMEWORK)
    agent = build_agent()
    agent.tool_plain(habits.clock_impl, name="clock")
    return scenario.expect_answer(await _play(scenario, agent))


async def text_with_tool_call() -> S.RunExpectation:
    """The model says something and calls a tool in one response, then answers."""
    scenario = habits.text_with_tool_call(FRAMEWORK)
    return scenario.expect_answer(await _play(scenario))


async def mixed_at_once() -> list[S.RunExpectation]:
    """Four runs of one agent at once on one event loop, each a different outcome (the
    model's failure is the scripted model raising)."""
    scenarios = habits.mixed_at_once(FRAMEWORK)
    agent = build_agent()
    outcomes = await asyncio.gather(*(_play(s, agent) for s in scenarios), return_exceptions=True)
    return [habits.expect_outcome(s, o) for s, o in zip(scenarios, outcomes, strict=True)]


async def outer_span() -> S.RunExpectation:
    """A run inside the caller's own span."""
    scenario = S.success(FRAMEWORK)
    with habits.outer_span():
        return scenario.expect_answer(await _play(scenario))


async def streamed_parallel_tools() -> S.RunExpectation:
    """Two tool calls in one streamed response (``run_stream``)."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    _script(scenario.marker, scenario.turns)
    model = FunctionModel(stream_function=_streamed, model_name=MODEL_NAME)
    async with build_agent().run_stream(scenario.task, model=model) as result:
        output = await result.get_output()
    return scenario.expect_answer(output)


async def agent_iter() -> S.RunExpectation:
    """``Agent.iter``: the caller walks the run's graph node by node; the same run."""
    scenario = S.success(FRAMEWORK)
    _script(scenario.marker, scenario.turns)
    nodes = 0
    async with build_agent().iter(scenario.task) as run:
        async for _ in run:
            nodes += 1
    assert nodes >= 6, nodes
    assert run.result is not None
    return scenario.expect_answer(run.result.output)


async def two_in_one_span() -> list[S.RunExpectation]:
    """Two runs one after the other inside one caller span (one trace): two top-level runs,
    each with its own steps, tokens and answer; the span no run."""
    first, second = S.success(FRAMEWORK), S.recovery(FRAMEWORK)
    with habits.outer_span():
        return [first.expect_answer(await _play(first)), second.expect_answer(await _play(second))]
