"""OpenAI Agents SDK scenarios against the scripted chat-completions server.

The SDK's real ``OpenAIChatCompletionsModel`` talks to :class:`ScriptedLLM` on 127.0.0.1.
Spans come from OpenInference's processor, installed exclusively, so the SDK's own exporter
to OpenAI's backend is never registered (``instrumentation.auto.instrument`` does the same).
"""

from __future__ import annotations

import asyncio

from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
from openai import AsyncOpenAI

from tests.frameworks import scenario as S
from tests.scripted_llm import ScriptedLLM, answer, call_tool, fail

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


def build_agent(llm: ScriptedLLM, name: str = AGENT_NAME) -> Agent:
    """An agent on the scripted server, with the scenario tools."""
    client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=0)
    model = OpenAIChatCompletionsModel(model=MODEL_NAME, openai_client=client)
    return Agent(
        name=name, instructions="Answer briefly.", model=model, tools=[get_weather, add, flaky]
    )


async def success(llm: ScriptedLLM) -> S.RunExpectation:
    """Two tool calls, then a text answer."""
    marker = S.tag("oaa-ok")
    llm.script(
        marker,
        [
            call_tool("get_weather", S.WEATHER_ARGS),
            call_tool("add", S.ADD_ARGS),
            answer(S.SUCCESS_ANSWER),
        ],
    )
    task = f"{marker} What is the weather in Paris, and 2 + 3?"
    result = await Runner.run(build_agent(llm), task)
    assert result.final_output == S.SUCCESS_ANSWER
    return S.RunExpectation(
        task=task,
        status="completed",
        final_answer=S.SUCCESS_ANSWER,
        tools=S.success_tools(),
        agent_name=AGENT_NAME,
        model_requested=MODEL_NAME,
        llm_steps_at_least=3,
    )


async def tool_error_recovers(llm: ScriptedLLM) -> S.RunExpectation:
    """A tool raises; the SDK tells the model, which retries and answers."""
    marker = S.tag("oaa-retry")
    llm.script(
        marker,
        [
            call_tool("flaky", S.FLAKY_BAD_ARGS),
            call_tool("flaky", S.FLAKY_GOOD_ARGS),
            answer(S.RECOVERED_ANSWER),
        ],
    )
    task = f"{marker} Call the flaky tool."
    result = await Runner.run(build_agent(llm), task)
    assert result.final_output == S.RECOVERED_ANSWER
    return S.RunExpectation(
        task=task,
        status="completed",
        final_answer=S.RECOVERED_ANSWER,
        tools=S.recover_tools(TOOL_ERROR),
        agent_name=AGENT_NAME,
        llm_steps_at_least=3,
    )


async def fails(llm: ScriptedLLM) -> S.RunExpectation:
    """The model server answers an error after one tool call: the run raises."""
    marker = S.tag("oaa-fail")
    llm.script(marker, [call_tool("get_weather", S.WEATHER_ARGS), fail(400, S.MODEL_ERROR)])
    task = f"{marker} Fail please."
    try:
        await Runner.run(build_agent(llm), task)
    except Exception as exc:  # the SDK re-raises the client's BadRequestError
        assert S.MODEL_ERROR in str(exc)
    else:
        raise AssertionError("the run should have failed")
    return S.RunExpectation(
        task=task,
        status="failed",
        final_answer=None,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
        error=S.MODEL_ERROR,
        agent_name=AGENT_NAME,
    )


async def concurrent(llm: ScriptedLLM, count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once on one event loop."""
    return list(await asyncio.gather(*(success(llm) for _ in range(count))))


async def nested(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A parent agent calls a child agent as a tool; returns [parent, child]."""
    parent_marker, child_marker = S.tag("oaa-parent"), S.tag("oaa-child")
    child_task = f"{child_marker} What is the answer?"
    child = build_agent(llm, "child_agent")
    client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-scripted", max_retries=0)
    parent = Agent(
        name="parent_agent",
        instructions="Delegate.",
        model=OpenAIChatCompletionsModel(model=MODEL_NAME, openai_client=client),
        tools=[child.as_tool(tool_name="ask_child", tool_description="Ask the child agent.")],
    )
    llm.script(child_marker, [answer(S.CHILD_ANSWER)])
    llm.script(
        parent_marker,
        [call_tool("ask_child", {"input": child_task}), answer(f"child said: {S.CHILD_ANSWER}")],
    )
    parent_task = f"{parent_marker} Ask the child."
    await Runner.run(parent, parent_task)
    return [
        S.RunExpectation(
            task=parent_task,
            status="completed",
            final_answer=S.CHILD_ANSWER,
            tools=[S.ToolExpectation("ask_child", {"input": child_task}, S.CHILD_ANSWER)],
            agent_name="parent_agent",
            llm_steps_at_least=2,
        ),
        S.RunExpectation(
            task=child_task,
            status="completed",
            final_answer=S.CHILD_ANSWER,
            agent_name="child_agent",
            parent_task=parent_task,
        ),
    ]
