"""More shapes every framework plays beside tests/frameworks/scenario.py's: a conversation of
two runs, several tool calls in one model turn, and a run stopped by its step limit.

Each scenario module exposes them as ``multi_turn``, ``parallel_tools`` and ``max_steps``
(collector_run.py runs whichever a framework has), so the same field-by-field checks apply.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from tests.frameworks import scenario as S
from tests.scripted_llm import ToolCall, Turn, answer, call_tool

FIRST_ANSWER = "Bonjour ! The first answer ☀"
SECOND_QUESTION = "And what about Oslo? Réponds en français, s'il te plaît ✓"
SECOND_ANSWER = "À Oslo aussi il fait beau ☀ (second answer)"
OSLO_ARGS: dict[str, Any] = {"city": "Oslo"}
OSLO_RESULT = "sunny in Oslo"
BOTH_ANSWER = "Sunny in Paris and in Oslo."
LOOP_ARGS: dict[str, Any] = {"city": "Lyon"}


@dataclass(frozen=True)
class Conversation:
    """Two runs of one agent in one conversation: the second is sent the first's history.

    The model's turns for both runs are scripted under the first run's marker (the scripted
    server matches a conversation by its first user message); the second question carries a
    marker of its own, so the second run is found by its own task only.
    """

    first: S.Scenario
    second: S.Scenario

    @property
    def turns(self) -> list[Turn]:
        return [*self.first.turns, *self.second.turns]

    @property
    def expected(self) -> list[S.RunExpectation]:
        return [self.first.expected, self.second.expected]


def multi_turn(fw: S.Framework) -> Conversation:
    """Run one answers at once; run two (with that history) calls a tool, then answers."""
    first = S.scenario(
        fw,
        "conv-first",
        "Say hello.",
        [fw.final_turn(FIRST_ANSWER)],
        status="completed",
        final_answer=FIRST_ANSWER,
        tools=[],
        response=fw.response(FIRST_ANSWER),
    )
    second = S.scenario(
        fw,
        "conv-second",
        SECOND_QUESTION,
        [call_tool("get_weather", OSLO_ARGS), fw.final_turn(SECOND_ANSWER)],
        status="completed",
        final_answer=SECOND_ANSWER,
        tools=[S.ToolExpectation("get_weather", OSLO_ARGS, OSLO_RESULT)],
        response=fw.response(SECOND_ANSWER),
        llm_steps_at_least=2,
    )
    return Conversation(first, second)


def parallel_tools(fw: S.Framework) -> S.Scenario:
    """One model turn asks for the same tool twice with different arguments."""
    both = Turn(
        tool_calls=(ToolCall("get_weather", S.WEATHER_ARGS), ToolCall("get_weather", OSLO_ARGS))
    )
    scenario = S.scenario(
        fw,
        "par",
        "What is the weather in Paris and in Oslo?",
        [both, fw.final_turn(BOTH_ANSWER)],
        status="completed",
        final_answer=BOTH_ANSWER,
        tools=[
            S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT),
            S.ToolExpectation("get_weather", OSLO_ARGS, OSLO_RESULT),
        ],
        response=fw.response(BOTH_ANSWER),
        llm_steps_at_least=2,
    )
    return replace(scenario, expected=replace(scenario.expected, tools_in_any_order=True))


def step_limit(fw: S.Framework, turns_allowed: int, error: str) -> S.Scenario:
    """The model calls a tool on every turn; the framework stops it after ``turns_allowed``
    model turns (each one tool call): status max_steps, no answer, ``error`` in the error."""
    return S.scenario(
        fw,
        "limit",
        "Keep checking the weather in Lyon.",
        [call_tool("get_weather", LOOP_ARGS)] * (turns_allowed + 2),
        status="max_steps",
        final_answer=None,
        tools=[S.ToolExpectation("get_weather", LOOP_ARGS, "sunny in Lyon")] * turns_allowed,
        error=error,
        llm_steps_at_least=turns_allowed,
    )


STRUCTURED = {"city": "Paris", "temp": 21}


def structured_output(fw: S.Framework, final_turn: Turn, answer_json: str) -> S.Scenario:
    """A weather call, then the model's ``final_turn`` gives a structured result (an output
    type the agent was built with): the run's answer is that object as JSON, ``answer_json``
    (compact or not, as the framework writes it)."""
    return S.scenario(
        fw,
        "structured",
        "Give me the weather in Paris as a record.",
        [call_tool("get_weather", S.WEATHER_ARGS), final_turn],
        status="completed",
        final_answer=answer_json,
        tools=[S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
        llm_steps_at_least=2,
    )


ZURICH_ARGS: dict[str, Any] = {"city": "Zürich"}
BOTTOM_ANSWER = "Zürich: sunny ☀ (the bottom agent)"
MIDDLE_ANSWER = f"middle heard: {BOTTOM_ANSWER}"
TOP_ANSWER = f"top heard: {MIDDLE_ANSWER}"


@dataclass(frozen=True)
class Chain:
    """Three agents, each asking the next through a tool (agents as tools, sub-agents):
    ``top_agent`` → ``middle_agent`` → ``bottom_agent``, which calls the weather tool."""

    top: S.Scenario
    middle: S.Scenario
    bottom: S.Scenario

    def script(self, llm: Any) -> None:
        """Script the three agents' models (each conversation is matched by its marker)."""
        for level in (self.top, self.middle, self.bottom):
            llm.script(level.marker, level.turns)

    @property
    def expected(self) -> list[S.RunExpectation]:
        """[top, middle, bottom]: each a child run of the one before."""
        return [self.top.expected, self.middle.expected, self.bottom.expected]


def nested_deep(
    fw: S.Framework,
    delegate_tools: tuple[str, str],
    question_arg: str,
    *,
    delegation_is_a_tool_step: bool = True,
) -> Chain:
    """``top_agent`` calls ``delegate_tools[0]`` (running ``middle_agent``), which calls
    ``delegate_tools[1]`` (running ``bottom_agent``); each passes its question as
    ``{question_arg: task}`` and answers with what it heard."""
    bottom = S.scenario(
        fw,
        "bottom",
        "Weather in Zürich?",
        [call_tool("get_weather", ZURICH_ARGS), fw.final_turn(BOTTOM_ANSWER)],
        status="completed",
        final_answer=BOTTOM_ANSWER,
        tools=[S.ToolExpectation("get_weather", ZURICH_ARGS, "sunny in Zürich")],
        response=fw.response(BOTTOM_ANSWER),
        llm_steps_at_least=2,
        agent_name="bottom_agent",
    )

    def asking(label: str, name: str, tool: str, below: S.Scenario, heard: str) -> S.Scenario:
        args = {question_arg: below.task}
        said = f"{name.removesuffix('_agent')} heard: {heard}"
        return S.scenario(
            fw,
            label,
            "Ask the agent below.",
            [call_tool(tool, args), fw.final_turn(said)],
            status="completed",
            final_answer=said,
            tools=[S.ToolExpectation(tool, args, heard)] if delegation_is_a_tool_step else [],
            response=fw.response(said),
            llm_steps_at_least=2,
            agent_name=name,
        )

    middle = asking("middle", "middle_agent", delegate_tools[1], bottom, BOTTOM_ANSWER)
    top = asking("top", "top_agent", delegate_tools[0], middle, MIDDLE_ANSWER)

    def under(level: S.Scenario, parent: S.Scenario) -> S.Scenario:
        return replace(level, expected=replace(level.expected, parent_task=parent.task))

    return Chain(top, under(middle, top), under(bottom, middle))


# A tool's structured result (non-ASCII included) and the text its step should show.
REPORT: dict[str, Any] = {"city": "Paris", "temp_c": 21, "sky": "sunny", "tags": ["café", "日本"]}
REPORT_TEXT = '{"city": "Paris", "temp_c": 21, "sky": "sunny", "tags": ["café", "日本"]}'
REPORT_ANSWER = "21 °C and sunny in Paris."


def weather_report_impl(city: str) -> dict[str, Any]:
    """The structured weather tool: a dict, not text."""
    return {**REPORT, "city": city}


def dict_result(fw: S.Framework, result_text: str = REPORT_TEXT) -> S.Scenario:
    """A tool returning a dict: its step's result is the dict as the JSON text the framework
    sent the model (``result_text``: pydantic-ai's is compact), non-ASCII kept."""
    return S.scenario(
        fw,
        "dict",
        "Weather report for Paris.",
        [call_tool("weather_report", {"city": "Paris"}), fw.final_turn(REPORT_ANSWER)],
        status="completed",
        final_answer=REPORT_ANSWER,
        tools=[S.ToolExpectation("weather_report", {"city": "Paris"}, result_text)],
        response=fw.response(REPORT_ANSWER),
        llm_steps_at_least=2,
    )


# The client's timeout for a model that does not answer (seconds).
MODEL_TIMEOUT_S = 1.0


def model_timeout(fw: S.Framework, gate: threading.Event, error: str) -> S.Scenario:
    """One weather call, then the model server does not answer within the client's timeout
    (the answer waits on ``gate``): the run fails with the client's timeout error, the
    weather step kept."""
    return S.scenario(
        fw,
        "timeout",
        "Weather in Oslo, then a model that hangs.",
        [call_tool("get_weather", OSLO_ARGS), answer("too late", gate=gate)],
        status="failed",
        final_answer=None,
        tools=[S.ToolExpectation("get_weather", OSLO_ARGS, OSLO_RESULT)],
        error=error,
        llm_steps_at_least=2,
    )
