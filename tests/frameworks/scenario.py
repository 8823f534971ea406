"""The scenarios every framework plays, and what each should leave in agent_runs / agent_steps.

A :class:`Scenario` is the model's scripted turns plus the :class:`RunExpectation` the
collector should show for it. The builders here (``success``, ``recovery``,
``model_failure``, ``nested``) hold the shape common to every framework; each
``scenarios_*`` module only runs them on its framework and exposes the same functions
(``success``, ``tool_error_recovers``, ``fails``, ``concurrent``, ``nested``), so one test body
checks every framework field by field.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from tests.scripted_llm import GATE_TIMEOUT_S, Turn, answer, call_tool, fail, garbled

WEATHER_ARGS: dict[str, Any] = {"city": "Paris"}
WEATHER_RESULT = "sunny in Paris"
ADD_ARGS: dict[str, Any] = {"a": 2, "b": 3}
ADD_RESULT = "5"
SUCCESS_ANSWER = "It is sunny in Paris and 2 + 3 = 5."
RECOVERED_ANSWER = "recovered after a retry"
FLAKY_BAD_ARGS: dict[str, Any] = {"x": 1}
FLAKY_GOOD_ARGS: dict[str, Any] = {"x": 2}
FLAKY_RESULT = "flaky ok"
FLAKY_ERROR = "x must be 2"
MODEL_ERROR = "the model server is on fire"
CHILD_ANSWER = "the child agent says 42"

T = TypeVar("T")


def get_weather_impl(city: str) -> str:
    """The weather tool every scenario gives its agent."""
    return f"sunny in {city}"


def add_impl(a: int, b: int) -> int:
    """The arithmetic tool every scenario gives its agent."""
    return a + b


def flaky_impl(x: int) -> str:
    """A tool that fails unless x == 2, so the model has to retry."""
    if x != 2:
        raise ValueError(FLAKY_ERROR)
    return FLAKY_RESULT


def interrupt_impl(city: str) -> str:
    """A tool during which the user presses Ctrl-C (Python raises KeyboardInterrupt)."""
    raise KeyboardInterrupt(city)


def tag(prefix: str) -> str:
    """A unique marker put in a task, so runs of many tests never collide."""
    return f"[{prefix}-{uuid.uuid4().hex[:10]}]"


@dataclass(frozen=True)
class ToolExpectation:
    """One tool_call step: its name, arguments, result (substring) and whether it failed."""

    name: str
    args: dict[str, Any]
    result: str | None
    error: str | None = None  # a substring of agent_steps.error, or None for no error
    inner_llm_steps: int | None = None  # model calls made inside the tool, as steps under it


@dataclass(frozen=True)
class RunExpectation:
    """One run as the collector should show it."""

    task: str  # substring of agent_runs.task
    status: str
    final_answer: str | None  # substring of agent_runs.final_answer
    tools: list[ToolExpectation] = field(default_factory=list)
    error: str | None = None  # substring of agent_runs.error
    error_whole: bool = False  # agent_runs.error is ``error`` itself (what the caller saw raised)
    agent_name: str | None = None
    model_requested: str | None = None
    llm_steps_at_least: int = 1
    parent_task: str | None = None  # the task of the parent run, for nested agents
    model_used: str | None = None  # the model the server says it used, when recorded
    response: str | None = None  # substring of the one response step, when there is one
    # Tools the model asked for in one turn may run at once: their steps' order is their
    # start order, which the framework does not fix.
    tools_in_any_order: bool = False
    # Sub-agents handed the user's request (ADK's transfer, a SequentialAgent's steps) work on
    # their parent's task: the run is told apart by its agent name, its parent is top-level.
    task_shared: bool = False


@dataclass(frozen=True)
class Framework:
    """What the shared scenarios need to know about one framework's agent."""

    marker_prefix: str  # starts every marker, e.g. "oaa" gives "[oaa-ok-1a2b...]"
    agent_name: str
    model_name: str
    answers_with_tool: bool = False  # smolagents answers by calling its final_answer tool

    def final_turn(self, text: str) -> Turn:
        """The model turn that ends a run with ``text``."""
        return (
            call_tool("final_answer", {"answer": text}) if self.answers_with_tool else answer(text)
        )

    def response(self, text: str) -> str | None:
        """The response step that turn leaves (a terminal answer tool call is the run's
        response, not a tool call), as the substring expected in it; None without one."""
        return text if self.answers_with_tool else None


@dataclass(frozen=True)
class Scenario:
    """One scripted conversation: the marker that selects it, the model's turns, the outcome."""

    marker: str
    turns: list[Turn]
    expected: RunExpectation

    @property
    def task(self) -> str:
        """The task to give the agent; it starts with the marker."""
        return self.expected.task

    def expect_answer(self, output: object) -> RunExpectation:
        """Check the agent returned the scripted answer; the expectation, for the collector."""
        assert output == self.expected.final_answer, (output, self.expected.final_answer)
        return self.expected

    @contextmanager
    def expect_failure(self, error_type: type[BaseException] = Exception) -> Iterator[None]:
        """Check the block raises ``error_type`` carrying the expected run error."""
        try:
            yield
        except error_type as exc:
            assert self.expected.error and self.expected.error in str(exc), exc
        else:
            raise AssertionError("the run should have failed")


def scenario(
    fw: Framework,
    label: str,
    request: str,
    turns: list[Turn],
    *,
    status: str,
    final_answer: str | None,
    tools: list[ToolExpectation],
    error: str | None = None,
    error_whole: bool = False,
    model_requested: str | None = None,
    llm_steps_at_least: int = 1,
    agent_name: str | None = None,
    parent_task: str | None = None,
    response: str | None = None,
) -> Scenario:
    """A scenario whose task is a fresh ``{fw.marker_prefix}-{label}`` marker then ``request``;
    the run is ``fw``'s agent unless ``agent_name`` says otherwise."""
    marker = tag(f"{fw.marker_prefix}-{label}")
    expected = RunExpectation(
        task=f"{marker} {request}",
        status=status,
        final_answer=final_answer,
        tools=tools,
        error=error,
        error_whole=error_whole,
        agent_name=agent_name or fw.agent_name,
        model_requested=model_requested,
        llm_steps_at_least=llm_steps_at_least,
        parent_task=parent_task,
        response=response,
    )
    return Scenario(marker, turns, expected)


def success(fw: Framework) -> Scenario:
    """Two tool calls (weather, then add), then the answer."""
    return scenario(
        fw,
        "ok",
        "What is the weather in Paris, and 2 + 3?",
        [
            call_tool("get_weather", WEATHER_ARGS),
            call_tool("add", ADD_ARGS),
            fw.final_turn(SUCCESS_ANSWER),
        ],
        status="completed",
        final_answer=SUCCESS_ANSWER,
        tools=[
            ToolExpectation("get_weather", WEATHER_ARGS, WEATHER_RESULT),
            ToolExpectation("add", ADD_ARGS, ADD_RESULT),
        ],
        response=fw.response(SUCCESS_ANSWER),
        model_requested=fw.model_name,
        llm_steps_at_least=3,
    )


def recovery(fw: Framework, tool_error: str = FLAKY_ERROR) -> Scenario:
    """The flaky tool fails once (its step error contains ``tool_error``), the model calls it
    again correctly, then answers."""
    return scenario(
        fw,
        "retry",
        "Call the flaky tool.",
        [
            call_tool("flaky", FLAKY_BAD_ARGS),
            call_tool("flaky", FLAKY_GOOD_ARGS),
            fw.final_turn(RECOVERED_ANSWER),
        ],
        status="completed",
        final_answer=RECOVERED_ANSWER,
        tools=[
            ToolExpectation("flaky", FLAKY_BAD_ARGS, None, error=tool_error),
            ToolExpectation("flaky", FLAKY_GOOD_ARGS, FLAKY_RESULT),
        ],
        response=fw.response(RECOVERED_ANSWER),
        llm_steps_at_least=3,
    )


GARBLED_ERROR = "Unterminated string"  # json's message for the body cut off midway


def garbled_response(fw: Framework) -> Scenario:
    """One weather call, then the model server answers HTTP 200 with JSON cut off midway:
    the run fails with the client's decoding error, the weather step kept."""
    return scenario(
        fw,
        "garbled",
        "Weather in Rome, then a broken answer.",
        [call_tool("get_weather", {"city": "Rome"}), garbled()],
        status="failed",
        final_answer=None,
        tools=[ToolExpectation("get_weather", {"city": "Rome"}, "sunny in Rome")],
        error=GARBLED_ERROR,
    )


def empty_answer(fw: Framework) -> Scenario:
    """The model answers at once with no text: a completed run whose answer is ``""`` (not a
    missing one)."""
    return scenario(
        fw,
        "empty",
        "Say nothing at all.",
        [fw.final_turn("")],
        status="completed",
        final_answer="",
        tools=[],
        response=fw.response(""),
    )


def model_failure(fw: Framework) -> Scenario:
    """One weather call, then the model server answers HTTP 400: the run fails."""
    return scenario(
        fw,
        "fail",
        "Fail please.",
        [call_tool("get_weather", WEATHER_ARGS), fail(400, MODEL_ERROR)],
        status="failed",
        final_answer=None,
        tools=[ToolExpectation("get_weather", WEATHER_ARGS, WEATHER_RESULT)],
        error=MODEL_ERROR,
    )


@dataclass(frozen=True)
class NestedScenario:
    """A parent agent that delegates to a child agent: one scenario each."""

    parent: Scenario
    child: Scenario

    @property
    def expected(self) -> list[RunExpectation]:
        """[parent, child], as the collector should show them."""
        return [self.parent.expected, self.child.expected]


def nested(
    fw: Framework, delegate_tool: str, question_arg: str, *, delegation_is_a_tool_step: bool = True
) -> NestedScenario:
    """``parent_agent`` calls ``delegate_tool`` with ``{question_arg: child task}``, which runs
    ``child_agent``; the parent then answers with what the child said."""
    child = scenario(
        fw,
        "child",
        "What is the answer?",
        [fw.final_turn(CHILD_ANSWER)],
        status="completed",
        final_answer=CHILD_ANSWER,
        tools=[],
        response=fw.response(CHILD_ANSWER),
        agent_name="child_agent",
    )
    delegate_args = {question_arg: child.task}
    parent_answer = f"child said: {CHILD_ANSWER}"
    delegation = [ToolExpectation(delegate_tool, delegate_args, CHILD_ANSWER)]
    parent = scenario(
        fw,
        "parent",
        "Ask the child.",
        [call_tool(delegate_tool, delegate_args), fw.final_turn(parent_answer)],
        status="completed",
        final_answer=CHILD_ANSWER,
        tools=delegation if delegation_is_a_tool_step else [],
        response=fw.response(CHILD_ANSWER),
        llm_steps_at_least=2,
        agent_name="parent_agent",
    )
    # The child's task goes into the parent's script, so the child learns its parent last.
    child = replace(child, expected=replace(child.expected, parent_task=parent.task))
    return NestedScenario(parent, child)


def run_in_threads(count: int, play: Callable[[], T]) -> list[T]:
    """``play`` ``count`` times at once, one thread each; the results in order."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: play(), range(count)))


@dataclass(frozen=True)
class CancelScenario:
    """A run cancelled while it waits for its second model answer (``asyncio`` task
    cancellation, as a web server does when its client goes away): after one weather call,
    the model's next answer is held until the run is cancelled."""

    scenario: Scenario
    arrived: threading.Event  # set when the held model request reaches the server
    gate: threading.Event  # releases the held answer once the run is cancelled

    async def cancel(self, run: Awaitable[object]) -> RunExpectation:
        """Start ``run``, cancel it once the held request arrived; the expectation."""
        task = asyncio.ensure_future(run)
        loop = asyncio.get_running_loop()
        try:
            came = await loop.run_in_executor(None, self.arrived.wait, GATE_TIMEOUT_S)
            assert came, "the held model request never arrived"
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            else:
                raise AssertionError("the run should have been cancelled")
        finally:
            self.gate.set()
        return self.scenario.expected


def ctrl_c(fw: Framework, tool_error: str | None = "cancelled") -> Scenario:
    """Ctrl-C while a tool runs: the run is ``cancelled``, no answer, no error; the tool's
    step says ``cancelled`` (``tool_error``) where its framework ends its span."""
    return scenario(
        fw,
        "ctrlc",
        "What is the weather in Oslo? (interrupted)",
        [call_tool("interrupt", {"city": "Oslo"})],
        status="cancelled",
        final_answer=None,
        tools=[ToolExpectation("interrupt", {"city": "Oslo"}, None, error=tool_error)],
    )


@contextmanager
def interrupted() -> Iterator[None]:
    """The block must end on the KeyboardInterrupt a tool raised."""
    try:
        yield
    except KeyboardInterrupt:
        return
    raise AssertionError("the run should have been interrupted")


def cancelled(fw: Framework) -> CancelScenario:
    """One weather call, then the run is cancelled waiting for the model: ``cancelled``, no
    answer, no error; the weather call is a step like any other."""
    arrived, gate = threading.Event(), threading.Event()
    held = answer("never sent", gate=gate, arrived=arrived)
    return CancelScenario(
        scenario(
            fw,
            "cancel",
            "What is the weather in Oslo? (cancelled midway)",
            [call_tool("get_weather", {"city": "Oslo"}), held],
            status="cancelled",
            final_answer=None,
            tools=[ToolExpectation("get_weather", {"city": "Oslo"}, "sunny in Oslo")],
        ),
        arrived,
        gate,
    )
