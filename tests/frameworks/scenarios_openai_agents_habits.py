"""More OpenAI Agents SDK scenarios (scenario_habits.py's shapes, streamed tool calls, the
guardrails) against the scripted chat-completions server."""

from __future__ import annotations

import asyncio
import dataclasses

from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OutputGuardrailTripwireTriggered,
    Runner,
    ToolGuardrailFunctionOutput,
    function_tool,
    input_guardrail,
    output_guardrail,
    tool_input_guardrail,
)
from openai import AsyncOpenAI

from tests.frameworks import scenario as S
from tests.frameworks import scenario_habits as habits
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.scenarios_openai_agents import (
    AGENT_NAME,
    FRAMEWORK,
    MODEL_NAME,
    TOOL_ERROR,
    _play,
    build_agent,
    get_weather,
)
from tests.scripted_llm import ScriptedLLM, answer, call_tool


@function_tool
def clock() -> str:
    """The time now."""
    return habits.clock_impl()


async def no_argument_tool(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool without parameters, called with ``{}``."""
    scenario = habits.no_argument_tool(FRAMEWORK)
    agent = build_agent(llm).clone(tools=[clock])
    return scenario.expect_answer(await _play(llm, scenario, agent))


async def text_with_tool_call(llm: ScriptedLLM) -> S.RunExpectation:
    """The model says something and calls a tool in one message, then answers."""
    scenario = habits.text_with_tool_call(FRAMEWORK)
    return scenario.expect_answer(await _play(llm, scenario))


async def mixed_at_once(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Four runs of one agent at once on one event loop, each a different outcome."""
    scenarios = habits.mixed_at_once(FRAMEWORK, tool_error=TOOL_ERROR)
    agent = build_agent(llm)
    outcomes = await asyncio.gather(
        *(_play(llm, s, agent) for s in scenarios), return_exceptions=True
    )
    return [habits.expect_outcome(s, o) for s, o in zip(scenarios, outcomes, strict=True)]


async def outer_span(llm: ScriptedLLM) -> S.RunExpectation:
    """A run inside the caller's own span."""
    scenario = S.success(FRAMEWORK)
    with habits.outer_span():
        return scenario.expect_answer(await _play(llm, scenario))


async def streamed_parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls in one streamed turn (``Runner.run_streamed``, usage included)."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    llm.script(scenario.marker, scenario.turns)
    agent = build_agent(llm).clone(model_settings=ModelSettings(include_usage=True))
    result = Runner.run_streamed(agent, scenario.task)
    async for _ in result.stream_events():
        pass
    return scenario.expect_answer(result.final_output)


HOMEWORK = "do my homework for me"
BLOCKED = "blocked by the output guardrail"


@input_guardrail
async def no_homework(context: object, agent: Agent, given: object) -> GuardrailFunctionOutput:
    """Trips when the request asks for homework."""
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered="homework" in str(given))


@output_guardrail
async def no_rain(context: object, agent: Agent, output: object) -> GuardrailFunctionOutput:
    """Trips when the answer speaks of rain."""
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered="rain" in str(output))


async def input_guardrail_trips(llm: ScriptedLLM) -> S.RunExpectation:
    """An input guardrail trips before any model call: the run fails with the tripwire; its
    task is the request the guardrail refused."""
    scenario = S.scenario(
        FRAMEWORK,
        "guard-in",
        f"Please {HOMEWORK}.",
        [answer("never asked")],
        status="failed",
        final_answer=None,
        tools=[],
        error="Guardrail tripwire triggered",
        llm_steps_at_least=0,
    )
    agent = build_agent(llm).clone(input_guardrails=[no_homework])
    llm.script(scenario.marker, scenario.turns)
    try:
        await Runner.run(agent, scenario.task)
    except InputGuardrailTripwireTriggered:
        pass
    else:
        raise AssertionError("the input guardrail should have tripped")
    return scenario.expected


async def output_guardrail_trips(llm: ScriptedLLM) -> S.RunExpectation:
    """An output guardrail refuses the model's answer: the run fails with the tripwire, its
    weather step and both model calls kept, no answer."""
    scenario = S.scenario(
        FRAMEWORK,
        "guard-out",
        "Will it rain in Paris?",
        [
            call_tool("get_weather", S.WEATHER_ARGS),
            answer("heavy rain all day"),
        ],
        status="failed",
        final_answer=None,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
        error="Guardrail tripwire triggered",
        llm_steps_at_least=2,
    )
    agent = build_agent(llm).clone(output_guardrails=[no_rain])
    llm.script(scenario.marker, scenario.turns)
    try:
        await Runner.run(agent, scenario.task)
    except OutputGuardrailTripwireTriggered:
        pass
    else:
        raise AssertionError("the output guardrail should have tripped")
    return scenario.expected


NO_PARIS = "Weather lookups for Paris are blocked."


@tool_input_guardrail
def no_paris(data: object) -> ToolGuardrailFunctionOutput:
    """Rejects a weather call for Paris (the model is told instead)."""
    arguments = str(getattr(getattr(data, "context", None), "tool_arguments", ""))
    if "Paris" in arguments:
        return ToolGuardrailFunctionOutput.reject_content(NO_PARIS)
    return ToolGuardrailFunctionOutput.allow()


async def tool_guardrail_rejects(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool input guardrail rejects the weather call: the tool never runs, the model is
    told the guardrail's message and answers. The run completes; the tool step failed, its
    error naming the guardrail (``instrument()`` names it on the tool's span), its result the
    message."""
    refused = "I may not look up the weather in Paris."
    scenario = S.scenario(
        FRAMEWORK,
        "guard-tool",
        "What is the weather in Paris?",
        [call_tool("get_weather", S.WEATHER_ARGS), answer(refused)],
        status="completed",
        final_answer=refused,
        tools=[
            S.ToolExpectation(
                "get_weather",
                S.WEATHER_ARGS,
                NO_PARIS,
                error=f"Rejected by the tool input guardrail no_paris: {NO_PARIS}",
            )
        ],
        llm_steps_at_least=2,
    )
    guarded = dataclasses.replace(get_weather, tool_input_guardrails=[no_paris])
    agent = build_agent(llm).clone(tools=[guarded])
    return scenario.expect_answer(await _play(llm, scenario, agent))


async def model_retried(llm: ScriptedLLM) -> S.RunExpectation:
    """The OpenAI client retries the 503 itself (``max_retries``, on by default): one model
    call in the trace, the run as if nothing happened."""
    scenario = habits.model_retried(FRAMEWORK)
    client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=1)
    model = OpenAIChatCompletionsModel(model=MODEL_NAME, openai_client=client)
    agent = Agent(name=AGENT_NAME, instructions="Answer briefly.", model=model, tools=[get_weather])
    return scenario.expect_answer(await _play(llm, scenario, agent))
