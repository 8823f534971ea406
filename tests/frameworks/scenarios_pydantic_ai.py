"""pydantic-ai scenarios: a scripted ``FunctionModel``, no network.

Instrumentation is pydantic-ai's own (``Agent.instrument_all`` with a tracer provider, as
``instrumentation.auto.instrument`` does it), so spans are OTel GenAI ``invoke_agent`` /
``chat`` / ``execute_tool``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Sequence

from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from pydantic_ai.usage import UsageLimits

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.scripted_llm import Turn, answer, call_tool

MODEL_NAME = "scripted-pai"
AGENT_NAME = "weather_agent"
PROVIDER = "function"  # FunctionModel's gen_ai.provider.name

FRAMEWORK = S.Framework(marker_prefix="pai", agent_name=AGENT_NAME, model_name=MODEL_NAME)

# The shared scenarios' turns, by marker: the FunctionModel plays them like ScriptedLLM does.
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
    return _scripted_turn(turns[index], index)


def _scripted_turn(turn: Turn, index: int) -> ModelResponse:
    """The model response a scripted turn stands for (the ``index``-th of its run)."""
    if turn.error_status is not None:
        raise RuntimeError(turn.error_message)
    if turn.tool_calls:
        said: list[TextPart | ToolCallPart] = [TextPart(turn.content)] if turn.content else []
        parts = said + [
            ToolCallPart(call.name, dict(call.arguments), tool_call_id=f"call_{index}_{position}")
            for position, call in enumerate(turn.tool_calls)
        ]
        return ModelResponse(parts=parts, model_name=MODEL_NAME, finish_reason="tool_call")
    text = TextPart(turn.content or "")
    return ModelResponse(parts=[text], model_name=MODEL_NAME, finish_reason="stop")


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


async def _play(scenario: S.Scenario, agent: Agent[None, str] | None = None) -> str:
    """Script the model, run the agent on the scenario's task; its output."""
    _script(scenario.marker, scenario.turns)
    return (await (agent or build_agent()).run(scenario.task)).output


async def success() -> S.RunExpectation:
    """Two tool calls, then a text answer."""
    scenario = S.success(FRAMEWORK)
    return scenario.expect_answer(await _play(scenario))


async def tool_error_recovers() -> S.RunExpectation:
    """A tool raises ModelRetry; the model calls it again correctly and answers."""
    scenario = S.recovery(FRAMEWORK)
    return scenario.expect_answer(await _play(scenario))


async def fails() -> S.RunExpectation:
    """A tool raises an ordinary exception: pydantic-ai ends the run with it."""
    scenario = S.scenario(
        FRAMEWORK,
        "fail",
        "Blow up.",
        [call_tool("explode")],
        status="failed",
        final_answer=None,
        tools=[S.ToolExpectation("explode", {}, None, error=S.MODEL_ERROR)],
        error=S.MODEL_ERROR,
    )
    with scenario.expect_failure(RuntimeError):
        await _play(scenario)
    return scenario.expected


async def concurrent(count: int = 4) -> list[S.RunExpectation]:
    """``count`` success runs at once on one event loop."""
    return list(await asyncio.gather(*(success() for _ in range(count))))


async def nested() -> list[S.RunExpectation]:
    """A parent agent whose tool runs a child agent; returns [parent, child]."""
    scenario = S.nested(FRAMEWORK, delegate_tool="ask_child", question_arg="question")
    child = build_agent("child_agent")
    parent = build_agent("parent_agent")

    @parent.tool_plain
    async def ask_child(question: str) -> str:
        """Delegate a question to the child agent."""
        return (await child.run(question)).output

    _script(scenario.child.marker, scenario.child.turns)
    await _play(scenario.parent, parent)
    return scenario.expected


async def nested_deep() -> list[S.RunExpectation]:
    """Agents three deep, each asking the next from a tool: top, middle, bottom."""
    chain = shapes.nested_deep(FRAMEWORK, ("ask_middle", "ask_bottom"), "question")
    bottom = build_agent("bottom_agent")
    middle = build_agent("middle_agent")
    top = build_agent("top_agent")

    @middle.tool_plain
    async def ask_bottom(question: str) -> str:
        """Ask the bottom agent."""
        return (await bottom.run(question)).output

    @top.tool_plain
    async def ask_middle(question: str) -> str:
        """Ask the middle agent."""
        return (await middle.run(question)).output

    for level in (chain.middle, chain.bottom):
        _script(level.marker, level.turns)
    chain.top.expect_answer(await _play(chain.top, top))
    return chain.expected


async def multi_turn() -> list[S.RunExpectation]:
    """Two runs in one conversation: the second gets the first's messages as history."""
    conversation = shapes.multi_turn(FRAMEWORK)
    _script(conversation.first.marker, conversation.turns)
    agent = build_agent()
    first = await agent.run(conversation.first.task)
    conversation.first.expect_answer(first.output)
    second = await agent.run(conversation.second.task, message_history=first.all_messages())
    conversation.second.expect_answer(second.output)
    return conversation.expected


async def parallel_tools() -> S.RunExpectation:
    """Two calls of one tool in one model turn."""
    scenario = shapes.parallel_tools(FRAMEWORK)
    return scenario.expect_answer(await _play(scenario))


async def max_steps() -> S.RunExpectation:
    """``UsageLimits(request_limit=2)``: the third model request is refused."""
    scenario = shapes.step_limit(FRAMEWORK, 2, "request_limit of 2")
    _script(scenario.marker, scenario.turns)
    with scenario.expect_failure():
        await build_agent().run(scenario.task, usage_limits=UsageLimits(request_limit=2))
    return scenario.expected


async def structured_output() -> S.RunExpectation:
    """``output_type`` a model: the model answers by calling ``final_result`` (an output
    tool, no ``execute_tool`` span); the run's ``final_result`` is the object as JSON."""
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        temp: int

    last = call_tool("final_result", shapes.STRUCTURED)
    scenario = shapes.structured_output(FRAMEWORK, last, '{"city":"Paris","temp":21}')
    _script(scenario.marker, scenario.turns)
    agent = build_agent()
    result = await agent.run(scenario.task, output_type=Weather)
    assert result.output == Weather(**shapes.STRUCTURED), result.output
    return scenario.expected


async def cancelled() -> S.RunExpectation:
    """The run's task is cancelled while its model is answering: pydantic-ai ends its spans
    without an error, the cut ``chat`` span without a response."""
    cancel = S.cancelled(FRAMEWORK)
    first, held = cancel.scenario.turns

    async def hold(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if not any(isinstance(m, ModelResponse) for m in messages):
            return _scripted_turn(first, 0)
        assert held.arrived is not None
        held.arrived.set()
        await asyncio.Event().wait()  # until cancelled
        raise AssertionError("the held answer is never given")

    agent = build_agent()
    held_model = FunctionModel(hold, model_name=MODEL_NAME)
    return await cancel.cancel(agent.run(cancel.scenario.task, model=held_model))


def ctrl_c() -> S.RunExpectation:
    """Ctrl-C while a tool runs (``run_sync``: asyncio lets a KeyboardInterrupt out of its
    loop): the tool's span has the ``KeyboardInterrupt``, the run's none (it ends UNSET,
    without ``final_result``)."""
    scenario = S.ctrl_c(FRAMEWORK)
    agent = build_agent()
    agent.tool_plain(S.interrupt_impl, name="interrupt")
    _script(scenario.marker, scenario.turns)
    with S.interrupted():
        agent.run_sync(scenario.task)
    return scenario.expected


async def _streamed(
    messages: list[ModelMessage], info: AgentInfo
) -> AsyncIterator[str | DeltaToolCalls]:
    """The scripted turns streamed: text in two deltas, a tool call as one."""
    response = _scripted(messages, info)
    for position, part in enumerate(response.parts):
        if isinstance(part, ToolCallPart):
            call = DeltaToolCall(
                part.tool_name, part.args_as_json_str(), tool_call_id=part.tool_call_id
            )
            yield {position: call}
        elif isinstance(part, TextPart):
            half = len(part.content) // 2
            yield part.content[:half]
            yield part.content[half:]


async def streaming() -> S.RunExpectation:
    """``run_stream``: the model's answers streamed; the same run and steps."""
    scenario = S.success(FRAMEWORK)
    _script(scenario.marker, scenario.turns)
    model = FunctionModel(stream_function=_streamed, model_name=MODEL_NAME)
    async with build_agent().run_stream(scenario.task, model=model) as result:
        output = await result.get_output()
    return scenario.expect_answer(output)


VALIDATOR_COMPLAINT = "name the city"
REJECTED_ANSWER = "it is sunny"
ACCEPTED_ANSWER = "it is sunny in Paris"


async def output_retry() -> S.RunExpectation:
    """An output validator raises ModelRetry on the first answer; the model answers again
    and the second answer stands: one completed run, two model calls, no failed step."""
    scenario = S.scenario(
        FRAMEWORK,
        "output-retry",
        "What is the weather in Paris?",
        [answer(REJECTED_ANSWER), answer(ACCEPTED_ANSWER)],
        status="completed",
        final_answer=ACCEPTED_ANSWER,
        tools=[],
        llm_steps_at_least=2,
    )
    agent = build_agent()

    @agent.output_validator
    def names_the_city(output: str) -> str:
        if "Paris" not in output:
            raise ModelRetry(VALIDATOR_COMPLAINT)
        return output

    return scenario.expect_answer(await _play(scenario, agent))


async def dict_tool_result() -> S.RunExpectation:
    """A tool returning a dict: ``gen_ai.tool.call.result`` is its compact JSON, the step's
    result."""
    compact = json.dumps(shapes.REPORT, ensure_ascii=False, separators=(",", ":"))
    scenario = shapes.dict_result(FRAMEWORK, compact)
    agent = build_agent()

    @agent.tool_plain
    def weather_report(city: str) -> dict[str, object]:
        """A structured weather report."""
        return shapes.weather_report_impl(city)

    return scenario.expect_answer(await _play(scenario, agent))
