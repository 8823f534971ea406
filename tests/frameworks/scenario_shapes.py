"""More shapes every framework plays beside tests/frameworks/scenario.py's: a conversation of
two runs, several tool calls in one model turn, and a run stopped by its step limit.

Each scenario module exposes them as ``multi_turn``, ``parallel_tools`` and ``max_steps``
(collector_run.py runs whichever a framework has), so the same field-by-field checks apply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tests.frameworks import scenario as S
from tests.scripted_llm import ToolCall, Turn, call_tool

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
