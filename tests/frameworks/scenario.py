"""What a framework scenario is expected to leave in agent_runs / agent_steps.

Every scenario module exposes the same functions (``success``, ``tool_error_recovers``,
``fails``, ``concurrent``, ``nested``) returning these expectations, so one test body
checks every framework field by field.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class RunExpectation:
    """One run as the collector should show it."""

    task: str  # substring of agent_runs.task
    status: str
    final_answer: str | None  # substring of agent_runs.final_answer
    tools: list[ToolExpectation] = field(default_factory=list)
    error: str | None = None  # substring of agent_runs.error
    agent_name: str | None = None
    model_requested: str | None = None
    llm_steps_at_least: int = 1
    parent_task: str | None = None  # the task of the parent run, for nested agents


def success_tools() -> list[ToolExpectation]:
    """The two tool calls of every success scenario."""
    return [
        ToolExpectation("get_weather", WEATHER_ARGS, WEATHER_RESULT),
        ToolExpectation("add", ADD_ARGS, ADD_RESULT),
    ]


def recover_tools(first_error: str | None = FLAKY_ERROR) -> list[ToolExpectation]:
    """The failed then successful tool call of every recovery scenario."""
    return [
        ToolExpectation("flaky", FLAKY_BAD_ARGS, None, error=first_error or ""),
        ToolExpectation("flaky", FLAKY_GOOD_ARGS, FLAKY_RESULT),
    ]
