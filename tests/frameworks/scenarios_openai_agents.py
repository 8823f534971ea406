"""OpenAI Agents SDK scenarios against the scripted chat-completions server.

The SDK's real ``OpenAIChatCompletionsModel`` talks to :class:`ScriptedLLM` on 127.0.0.1.
Spans come from OpenInference's processor, installed exclusively, so the SDK's own exporter
to OpenAI's backend is never registered (``instrumentation.auto.instrument`` does the same).
"""

from __future__ import annotations

import asyncio
import json
import threading

from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
)
from agents import handoff as handoff_to
from agents.exceptions import MaxTurnsExceeded
from openai import AsyncOpenAI
from pydantic import BaseModel

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.scripted_llm import ScriptedLLM, answer, call_tool

MODEL_NAME = "scripted-oai-agents"
AGENT_NAME = "weather_agent"
# The SDK reports a redacted tool error unless the tool has its own failure function.
TOOL_ERROR = "Error running tool"


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return S.get_weather_impl(city)


@function_tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return S.add_impl(a, b)


@function_tool
def flaky(x: int) -> str:
    """Fails unless x == 2."""
    return S.flaky_impl(x)


@function_tool(failure_error_function=None)
def strict_flaky(x: int) -> str:
    """Fails unless x == 2; its failure ends the run (no failure function)."""
    return S.flaky_impl(x)


FRAMEWORK = S.Framework(marker_prefix="oaa", agent_name=AGENT_NAME, model_name=MODEL_NAME)


def _model(llm: ScriptedLLM) -> OpenAIChatCompletionsModel:
    client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=0)
    return OpenAIChatCompletionsModel(model=MODEL_NAME, openai_client=client)


def build_agent(llm: ScriptedLLM, name: str = AGENT_NAME) -> Agent:
    """An agent on the scripted server, with the scenario tools."""
    return Agent(
        name=name,
        instructions="Answer briefly.",
        model=_model(llm),
        tools=[get_weather, add, flaky],
    )


async def _play(llm: ScriptedLLM, scenario: S.Scenario, agent: Agent | None = None) -> object:
    """Script the model, run the agent on the scenario's task; its final output."""
    llm.script(scenario.marker, scenario.turns)
    result = await Runner.run(agent or build_agent(llm), scenario.task)
    return result.final_output


async def success(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls, then a text answer."""
    scenario = S.success(FRAMEWORK)
    return scenario.expect_answer(await _play(llm, scenario))


async def tool_error_recovers(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool raises; the SDK tells the model, which retries and answers."""
    scenario = S.recovery(FRAMEWORK, tool_error=TOOL_ERROR)
    return scenario.expect_answer(await _play(llm, scenario))


async def fails(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server answers an error after one tool call: the run raises."""
    scenario = S.model_failure(FRAMEWORK)
    with scenario.expect_failure():  # the SDK re-raises the client's BadRequestError
        await _play(llm, scenario)
    return scenario.expected


async def tool_raises(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool without a failure function raises: the SDK ends the run with a ``UserError``
    naming the tool, which is the run's error as the caller saw it."""
    raised = f"Error running tool strict_flaky: {S.FLAKY_ERROR}"
    scenario = S.scenario(
        FRAMEWORK,
        "raise",
        "Call the strict flaky tool once.",
        [call_tool("strict_flaky", S.FLAKY_BAD_ARGS), answer("never reached")],
        status="failed",
        final_answer=None,
        tools=[S.ToolExpectation("strict_flaky", S.FLAKY_BAD_ARGS, None, error=S.FLAKY_ERROR)],
        error=raised,
        error_whole=True,
    )
    agent = build_agent(llm)
    agent.tools.append(strict_flaky)
    with scenario.expect_failure():
        await _play(llm, scenario, agent)
    return scenario.expected


async def concurrent(llm: ScriptedLLM, count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once on one event loop."""
    return list(await asyncio.gather(*(success(llm) for _ in range(count))))


async def nested(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A parent agent calls a child agent as a tool; returns [parent, child]."""
    scenario = S.nested(FRAMEWORK, delegate_tool="ask_child", question_arg="input")
    child = build_agent(llm, "child_agent")
    parent = Agent(
        name="parent_agent",
        instructions="Delegate.",
        model=_model(llm),
        tools=[child.as_tool(tool_name="ask_child", tool_description="Ask the child agent.")],
    )
    llm.script(scenario.child.marker, scenario.child.turns)
    await _play(llm, scenario.parent, parent)
    return scenario.expected


async def nested_deep(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Agents three deep through ``agent.as_tool``: top, middle, bottom."""
    chain = shapes.nested_deep(FRAMEWORK, ("ask_middle", "ask_bottom"), "input")
    bottom = build_agent(llm, "bottom_agent")
    middle = Agent(
        name="middle_agent",
        instructions="Delegate.",
        model=_model(llm),
        tools=[bottom.as_tool(tool_name="ask_bottom", tool_description="Ask the bottom agent.")],
    )
    top = Agent(
        name="top_agent",
        instructions="Delegate.",
        model=_model(llm),
        tools=[middle.as_tool(tool_name="ask_middle", tool_description="Ask the middle agent.")],
    )
    chain.script(llm)
    result = await Runner.run(top, chain.top.task)
    chain.top.expect_answer(result.final_output)
    return chain.expected


async def multi_turn(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two runs in one conversation: the second is given the first's items, then a question."""
    conversation = shapes.multi_turn(FRAMEWORK)
    llm.script(conversation.first.marker, conversation.turns)
    agent = build_agent(llm)
    first = await Runner.run(agent, conversation.first.task)
    conversation.first.expect_answer(first.final_output)
    history = [*first.to_input_list(), {"role": "user", "content": conversation.second.task}]
    second = await Runner.run(agent, history)  # type: ignore[arg-type]
    conversation.second.expect_answer(second.final_output)
    return conversation.expected


async def parallel_tools(llm: ScriptedLLM) -> S.RunExpectation:
    """Two calls of one tool in one model turn."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    return scenario.expect_answer(await _play(llm, scenario))


class WeatherRecord(BaseModel):
    city: str
    temp: int


async def structured_output(llm: ScriptedLLM) -> S.RunExpectation:
    """``output_type`` a model: the SDK asks for a JSON-schema answer (``response_format``),
    not a tool; the model's JSON text is the run's answer, the object the SDK returns."""
    text = json.dumps(shapes.STRUCTURED)
    scenario = shapes.structured_output(FRAMEWORK, answer(text), text)
    agent = build_agent(llm).clone(output_type=WeatherRecord)
    output = await _play(llm, scenario, agent)
    assert output == WeatherRecord(**shapes.STRUCTURED), output
    requests = llm.requests_for(scenario.marker)
    assert requests[-1]["response_format"]["type"] == "json_schema", requests[-1]
    return scenario.expected


async def max_steps(llm: ScriptedLLM) -> S.RunExpectation:
    """``max_turns=2``: the SDK raises MaxTurnsExceeded after two tool-calling turns."""
    scenario = shapes.step_limit(FRAMEWORK, 2, "Max turns")
    llm.script(scenario.marker, scenario.turns)
    with scenario.expect_failure(MaxTurnsExceeded):
        await Runner.run(build_agent(llm), scenario.task, max_turns=2)
    return scenario.expected


async def streaming(llm: ScriptedLLM) -> S.RunExpectation:
    """The success scenario streamed (``Runner.run_streamed``), usage included: the answer is
    only in the generation's Responses-shaped output."""
    scenario = S.success(FRAMEWORK)
    llm.script(scenario.marker, scenario.turns)
    agent = build_agent(llm).clone(model_settings=ModelSettings(include_usage=True))
    result = Runner.run_streamed(agent, scenario.task)
    async for _ in result.stream_events():
        pass
    return scenario.expect_answer(result.final_output)


async def handoff(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A triage agent hands the conversation to a specialist (``handoffs=[...]``): two sibling
    runs on the user's task; the hand-off is the triage run's last step, with the arguments
    the model gave ``transfer_to_specialist``; the specialist answers."""
    task = f"{S.tag('oaa-handoff')} Who should answer this?"
    llm.script(task, [call_tool("transfer_to_specialist", {}), answer(S.CHILD_ANSWER)])
    specialist = Agent(name="specialist", instructions="Answer.", model=_model(llm))
    triage = Agent(
        name="triage", instructions="Hand over.", model=_model(llm), handoffs=[specialist]
    )
    result = await Runner.run(triage, task)
    assert result.final_output == S.CHILD_ANSWER, result.final_output
    handed_over = S.ToolExpectation("transfer_to_specialist", {}, "specialist")
    common = {"task": task, "status": "completed", "task_shared": True}
    return [
        S.RunExpectation(final_answer=None, tools=[handed_over], agent_name="triage", **common),
        S.RunExpectation(final_answer=S.CHILD_ANSWER, agent_name="specialist", **common),
    ]


async def handoff_named(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A hand-off given its own tool name (``handoff(agent, tool_name_override=...)``) and
    arguments (``input_type``): the step is named as the model called it, non-ASCII and
    nested arguments kept."""
    task = f"{S.tag('oaa-escalate')} Wer soll das beantworten?"
    reason = {"reason": "Kundin wünscht Rückruf", "context": {"tags": ["café", "日本"], "n": 2}}
    llm.script(task, [call_tool("escalate", reason), answer(S.CHILD_ANSWER)])
    specialist = Agent(name="specialist", instructions="Answer.", model=_model(llm))

    async def on_handoff(context: object, data: Escalation) -> None:
        assert data.context.tags == ["café", "日本"], data

    triage = Agent(
        name="triage",
        instructions="Hand over.",
        model=_model(llm),
        handoffs=[
            handoff_to(
                specialist,
                tool_name_override="escalate",
                on_handoff=on_handoff,
                input_type=Escalation,
            )
        ],
    )
    result = await Runner.run(triage, task)
    assert result.final_output == S.CHILD_ANSWER, result.final_output
    handed_over = S.ToolExpectation("escalate", reason, "specialist")
    common = {"task": task, "status": "completed", "task_shared": True}
    return [
        S.RunExpectation(final_answer=None, tools=[handed_over], agent_name="triage", **common),
        S.RunExpectation(final_answer=S.CHILD_ANSWER, agent_name="specialist", **common),
    ]


class EscalationContext(BaseModel):
    """Nested hand-off arguments."""

    tags: list[str]
    n: int


class Escalation(BaseModel):
    """What the model gives the escalation hand-off."""

    reason: str
    context: EscalationContext


async def stop_on_first_tool(llm: ScriptedLLM) -> S.RunExpectation:
    """``tool_use_behavior="stop_on_first_tool"``: the tool's result is the final output, no
    model call after it."""
    scenario = S.scenario(
        FRAMEWORK,
        "stop",
        "What is the weather in Paris?",
        [call_tool("get_weather", S.WEATHER_ARGS)],
        status="completed",
        final_answer=S.WEATHER_RESULT,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
    )
    agent = build_agent(llm).clone(tool_use_behavior="stop_on_first_tool")
    return scenario.expect_answer(await _play(llm, scenario, agent))


async def cancelled(llm: ScriptedLLM) -> S.RunExpectation:
    """The run's task is cancelled while it waits for the model: the SDK ends every span OK,
    the cut ``generation`` without a response."""
    cancel = S.cancelled(FRAMEWORK)
    llm.script(cancel.scenario.marker, cancel.scenario.turns)
    return await cancel.cancel(Runner.run(build_agent(llm), cancel.scenario.task))


async def one_trace(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Two runs of one agent inside one ``trace(...)`` (the SDK's way to group a workflow's
    runs): one workflow span above both agent spans, still two runs, each with its own task,
    answer and steps."""
    from agents import trace

    first = S.scenario(
        FRAMEWORK,
        "trace-first",
        "Say hello in one trace.",
        [answer(shapes.FIRST_ANSWER)],
        status="completed",
        final_answer=shapes.FIRST_ANSWER,
        tools=[],
    )
    second = S.success(FRAMEWORK)
    agent = build_agent(llm)
    with trace("weather workflow"):
        first.expect_answer(await _play(llm, first, agent))
        second.expect_answer(await _play(llm, second, agent))
    return [first.expected, second.expected]


async def empty_answer(llm: ScriptedLLM) -> S.RunExpectation:
    """The model answers with no text: the run's answer is ``""``."""
    scenario = S.empty_answer(FRAMEWORK)
    return scenario.expect_answer(await _play(llm, scenario))


async def garbled_response(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server's answer is JSON cut off midway: the run fails with the error."""
    scenario = S.garbled_response(FRAMEWORK)
    with scenario.expect_failure():
        await _play(llm, scenario)
    return scenario.expected


async def nested_streamed(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """The nested scenario (a child agent as a tool, ``agent.as_tool``) run streamed
    (``Runner.run_streamed``, usage included): the same parent and child runs."""
    scenario = S.nested(FRAMEWORK, delegate_tool="ask_child", question_arg="input")
    settings = ModelSettings(include_usage=True)
    child = build_agent(llm, "child_agent").clone(model_settings=settings)
    parent = Agent(
        name="parent_agent",
        instructions="Delegate.",
        model=_model(llm),
        model_settings=settings,
        tools=[child.as_tool(tool_name="ask_child", tool_description="Ask the child agent.")],
    )
    llm.script(scenario.child.marker, scenario.child.turns)
    llm.script(scenario.parent.marker, scenario.parent.turns)
    result = Runner.run_streamed(parent, scenario.parent.task)
    async for _ in result.stream_events():
        pass
    assert result.final_output == f"child said: {S.CHILD_ANSWER}", result.final_output
    return scenario.expected


@function_tool
def weather_report(city: str) -> dict[str, object]:
    """A structured weather report."""
    return shapes.weather_report_impl(city)


async def dict_tool_result(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool returning a dict: the step's result is its JSON."""
    scenario = shapes.dict_result(FRAMEWORK)
    agent = build_agent(llm).clone(tools=[weather_report])
    return scenario.expect_answer(await _play(llm, scenario, agent))


async def model_timeout(llm: ScriptedLLM) -> S.RunExpectation:
    """The model does not answer the second call within the client's timeout: the agent
    span fails with ``Request timed out.``, the cut ``generation`` too."""
    gate = threading.Event()
    scenario = shapes.model_timeout(FRAMEWORK, gate, "Request timed out.")
    client = AsyncOpenAI(
        base_url=llm.base_url,
        api_key="sk-scripted",
        max_retries=0,
        timeout=shapes.MODEL_TIMEOUT_S,
    )
    model = OpenAIChatCompletionsModel(model=MODEL_NAME, openai_client=client)
    try:
        with scenario.expect_failure():  # openai.APITimeoutError
            await _play(llm, scenario, build_agent(llm).clone(model=model))
    finally:
        gate.set()
    return scenario.expected


async def handoff_and_back(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Hand-offs back and forth: triage hands to the specialist, which hands back to
    triage, which answers. Three sibling runs on the user's task, in order, each hand-off
    its run's last step."""
    task = f"{S.tag('oaa-back')} Who answers in the end?"
    turns = [call_tool("transfer_to_specialist", {}), call_tool("transfer_to_triage", {})]
    llm.script(task, [*turns, answer(S.CHILD_ANSWER)])
    specialist = Agent(name="specialist", instructions="Answer.", model=_model(llm))
    triage = Agent(
        name="triage", instructions="Hand over.", model=_model(llm), handoffs=[specialist]
    )
    specialist.handoffs = [triage]
    result = await Runner.run(triage, task)
    assert result.final_output == S.CHILD_ANSWER, result.final_output
    common = {"task": task, "status": "completed", "task_shared": True}
    to_specialist = S.ToolExpectation("transfer_to_specialist", {}, "specialist")
    to_triage = S.ToolExpectation("transfer_to_triage", {}, "triage")
    return [
        S.RunExpectation(final_answer=None, tools=[to_specialist], agent_name="triage", **common),
        S.RunExpectation(final_answer=None, tools=[to_triage], agent_name="specialist", **common),
        S.RunExpectation(final_answer=S.CHILD_ANSWER, agent_name="triage", **common),
    ]


@function_tool
def interrupt(city: str) -> str:
    """The user presses Ctrl-C while this runs."""
    return S.interrupt_impl(city)


def ctrl_c(llm: ScriptedLLM) -> S.RunExpectation:
    """A weather call, then Ctrl-C in the next tool (``KeyboardInterrupt`` out of
    ``asyncio.run``): the cut tool's span ends OK without output (as a tool returning
    ``None`` would: its step is no error). What becomes of the turn, agent and workflow
    spans depends on ``asyncio.run``'s clean-up: they end OK, or the agent span fails
    resetting its context, or they never end (only pending copies). Each way the run is
    ``cancelled``, named after the agent, with both turns' steps."""
    weather = S.ToolExpectation("get_weather", shapes.OSLO_ARGS, shapes.OSLO_RESULT)
    cut = S.ToolExpectation("interrupt", shapes.OSLO_ARGS, None)
    scenario = S.scenario(
        FRAMEWORK,
        "ctrlc",
        "Weather in Oslo, twice? (interrupted)",
        [call_tool("get_weather", shapes.OSLO_ARGS), call_tool("interrupt", shapes.OSLO_ARGS)],
        status="cancelled",
        final_answer=None,
        tools=[weather, cut],
        llm_steps_at_least=2,
    )
    agent = build_agent(llm).clone(tools=[get_weather, interrupt])
    with S.interrupted():
        asyncio.run(_play(llm, scenario, agent))
    return scenario.expected
