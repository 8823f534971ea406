"""pydantic-ai scenarios: a scripted ``FunctionModel``, no network.

Instrumentation is pydantic-ai's own (``Agent.instrument_all`` with a tracer provider, as
``instrumentation.auto.instrument`` does it), so spans are OTel GenAI ``invoke_agent`` /
``chat`` / ``execute_tool``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from tests.frameworks import scenario as S

MODEL_NAME = "scripted-pai"
AGENT_NAME = "weather_agent"
PROVIDER = "function"  # FunctionModel's gen_ai.provider.name

# A scripted turn: ("call", tool, args) | ("text", answer) | ("raise", message)
Turn = tuple[Any, ...]

_scripts: dict[str, list[Turn]] = {}
_lock = threading.Lock()


def _first_prompt(messages: Sequence[ModelMessage]) -> str:
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


def _scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    prompt = _first_prompt(messages)
    with _lock:
        markers = [marker for marker in _scripts if marker in prompt]
        turns = _scripts[max(markers, key=len)] if markers else []
    index = sum(1 for message in messages if isinstance(message, ModelResponse))
    if index >= len(turns):
        raise RuntimeError(f"no scripted turn {index} for {prompt!r}")
    turn = turns[index]
    if turn[0] == "raise":
        raise RuntimeError(turn[1])
    if turn[0] == "call":
        part = ToolCallPart(turn[1], dict(turn[2]), tool_call_id=f"call_{index}")
        return ModelResponse(parts=[part], model_name=MODEL_NAME, finish_reason="tool_call")
    return ModelResponse(parts=[TextPart(turn[1])], model_name=MODEL_NAME, finish_reason="stop")


def _script(marker: str, turns: list[Turn]) -> None:
    with _lock:
        _scripts[marker] = turns


def build_agent(name: str = AGENT_NAME) -> Agent[None, str]:
    """An agent with the scenario tools on the scripted model."""
    agent: Agent[None, str] = Agent(FunctionModel(_scripted, model_name=MODEL_NAME), name=name)

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return S.get_weather_impl(city)

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return S.add_impl(a, b)

    @agent.tool_plain
    def flaky(x: int) -> str:
        """Fails unless x == 2; asks the model to retry."""
        try:
            return S.flaky_impl(x)
        except ValueError as exc:
            raise ModelRetry(str(exc)) from exc

    @agent.tool_plain
    def explode() -> str:
        """Always raises: an error the model cannot recover from."""
        raise RuntimeError(S.MODEL_ERROR)

    return agent


async def success() -> S.RunExpectation:
    """Two tool calls, then a text answer."""
    marker = S.tag("pai-ok")
    _script(
        marker,
        [
            ("call", "get_weather", S.WEATHER_ARGS),
            ("call", "add", S.ADD_ARGS),
            ("text", S.SUCCESS_ANSWER),
        ],
    )
    task = f"{marker} What is the weather in Paris, and 2 + 3?"
    result = await build_agent().run(task)
    assert result.output == S.SUCCESS_ANSWER
    return S.RunExpectation(
        task=task,
        status="completed",
        final_answer=S.SUCCESS_ANSWER,
        tools=S.success_tools(),
        agent_name=AGENT_NAME,
        model_requested=MODEL_NAME,
        llm_steps_at_least=3,
    )


async def tool_error_recovers() -> S.RunExpectation:
    """A tool raises ModelRetry; the model calls it again correctly and answers."""
    marker = S.tag("pai-retry")
    _script(
        marker,
        [
            ("call", "flaky", S.FLAKY_BAD_ARGS),
            ("call", "flaky", S.FLAKY_GOOD_ARGS),
            ("text", S.RECOVERED_ANSWER),
        ],
    )
    task = f"{marker} Call the flaky tool."
    result = await build_agent().run(task)
    assert result.output == S.RECOVERED_ANSWER
    return S.RunExpectation(
        task=task,
        status="completed",
        final_answer=S.RECOVERED_ANSWER,
        tools=S.recover_tools(),
        agent_name=AGENT_NAME,
        llm_steps_at_least=3,
    )


async def fails() -> S.RunExpectation:
    """A tool raises an ordinary exception: pydantic-ai ends the run with it."""
    marker = S.tag("pai-fail")
    _script(marker, [("call", "explode", {})])
    task = f"{marker} Blow up."
    try:
        await build_agent().run(task)
    except RuntimeError as exc:
        assert S.MODEL_ERROR in str(exc)
    else:
        raise AssertionError("the run should have failed")
    return S.RunExpectation(
        task=task,
        status="failed",
        final_answer=None,
        tools=[S.ToolExpectation("explode", {}, None, error=S.MODEL_ERROR)],
        error=S.MODEL_ERROR,
        agent_name=AGENT_NAME,
    )


async def concurrent(count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once on one event loop."""
    return list(await asyncio.gather(*(success() for _ in range(count))))


async def nested() -> list[S.RunExpectation]:
    """A parent agent whose tool runs a child agent; returns [parent, child]."""
    parent_marker, child_marker = S.tag("pai-parent"), S.tag("pai-child")
    child_task = f"{child_marker} What is the answer?"
    child = build_agent("child_agent")
    parent = build_agent("parent_agent")

    @parent.tool_plain
    async def ask_child(question: str) -> str:
        """Delegate a question to the child agent."""
        return (await child.run(question)).output

    _script(child_marker, [("text", S.CHILD_ANSWER)])
    _script(
        parent_marker,
        [
            ("call", "ask_child", {"question": child_task}),
            ("text", f"child said: {S.CHILD_ANSWER}"),
        ],
    )
    parent_task = f"{parent_marker} Ask the child."
    await parent.run(parent_task)
    return [
        S.RunExpectation(
            task=parent_task,
            status="completed",
            final_answer=S.CHILD_ANSWER,
            tools=[S.ToolExpectation("ask_child", {"question": child_task}, S.CHILD_ANSWER)],
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
