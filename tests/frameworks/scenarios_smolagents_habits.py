"""More smolagents scenarios (scenario_habits.py's shapes, the model's output streamed,
planning) on ``OpenAIModel`` against the scripted server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from smolagents import tool

from tests.frameworks import scenario as S
from tests.frameworks import scenario_habits as habits
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.scenarios_smolagents import FRAMEWORK, _play, build_agent
from tests.scripted_llm import ScriptedLLM, answer, call_tool


@tool
def clock() -> str:
    """The time now."""
    return habits.clock_impl()


def no_argument_tool(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool without parameters, called with ``{}``."""
    scenario = habits.no_argument_tool(FRAMEWORK)
    agent = build_agent(llm)
    agent.tools[clock.name] = clock
    return scenario.expect_answer(_play(llm, scenario, agent))


def text_with_tool_call(llm: ScriptedLLM) -> S.RunExpectation:
    """The model says something and calls a tool in one message, then answers."""
    scenario = habits.text_with_tool_call(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario))


def mixed_at_once(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Four runs at once, one thread and agent each (an agent keeps one run's memory), each
    a different outcome."""
    scenarios = habits.mixed_at_once(FRAMEWORK)

    def play(scenario: S.Scenario) -> object:
        try:
            return _play(llm, scenario)
        except Exception as exc:  # noqa: BLE001 - the failing run's error is checked
            return exc

    with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
        outcomes = list(pool.map(play, scenarios))
    return [habits.expect_outcome(s, o) for s, o in zip(scenarios, outcomes, strict=True)]


def outer_span(llm: ScriptedLLM) -> S.RunExpectation:
    """A run inside the caller's own span."""
    scenario = S.success(FRAMEWORK)
    with habits.outer_span():
        return scenario.expect_answer(_play(llm, scenario))


def streamed_parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """``stream_outputs=True``: the model's answers come as a stream (``generate_stream``),
    one turn asking for two tool calls."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    return scenario.expect_answer(_play(llm, scenario, build_agent(llm, stream_outputs=True)))


PLAN = "1. Look up the weather in Paris.\n2. Answer."


def planning(llm: ScriptedLLM) -> S.RunExpectation:
    """``planning_interval=3``: before its first step the agent asks the model for a plan (a
    model call without tools); then the weather call and the answer."""
    scenario = S.scenario(
        FRAMEWORK,
        "plan",
        "Plan, then tell me the weather in Paris.",
        [
            answer(PLAN),
            call_tool("get_weather", S.WEATHER_ARGS),
            FRAMEWORK.final_turn(habits.LOOKED_ANSWER),
        ],
        status="completed",
        final_answer=habits.LOOKED_ANSWER,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
        response=habits.LOOKED_ANSWER,
        llm_steps_at_least=3,
    )
    agent = build_agent(llm, planning_interval=3)
    return scenario.expect_answer(_play(llm, scenario, agent))


def two_in_one_span(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two runs one after the other inside one caller span (one trace): two top-level runs,
    each with its own steps, tokens and answer; the span no run."""
    first, second = S.success(FRAMEWORK), S.recovery(FRAMEWORK)
    with habits.outer_span():
        return [first.expect_answer(_play(llm, first)), second.expect_answer(_play(llm, second))]
