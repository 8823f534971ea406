"""AutoGen AgentChat's scenarios, for its agent script (venv_agents/autogen_agent.py).

AutoGen's documented behaviours the expectations follow:

- a tool that raises becomes an error result the model reads; the run goes on;
- a failed model call ends the run with the client's error;
- ``AgentTool`` makes an agent a tool of another: its run nests under the parent's.

- at ``max_tool_iterations`` (here 2) AssistantAgent stops calling the model and returns
  the last tool results: the run stopped at its step limit (``max_steps``, no answer);
- a team (RoundRobinGroupChat, SelectorGroupChat, Swarm) is one run whose agents' turns are
  its child runs; the TaskResult's ``stop_reason`` tells a turn or message limit
  (``max_steps``); a Swarm's hand-off is the ``transfer_to_{agent}`` tool call of the agent
  that hands over; an agent with the default ``max_tool_iterations=1`` answers with its tool
  results; SelectorGroupChat asks the model who speaks next (the team's own step) unless
  one agent only may speak.

The spans record the requested model only.
"""

from __future__ import annotations

import json
from dataclasses import replace

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.teams import TeamExpectation, TurnExpectation
from tests.frameworks.venv_frameworks import (
    PlannedScenario,
    concurrent_plan,
    conversation_plan,
    nested_plan,
    single_plan,
)
from tests.scripted_llm import Turn, answer, call_tool, fail

MODEL_NAME = "scripted-autogen"
FRAMEWORK = S.Framework(marker_prefix="ag", agent_name="weather_agent", model_name=MODEL_NAME)


def _single(name: str, scenario: S.Scenario) -> PlannedScenario:
    expected = replace(scenario.expected, model_requested=MODEL_NAME)
    return single_plan(name, scenario, expected, answered=scenario.expected.status == "completed")


def _max_steps() -> S.Scenario:
    return S.scenario(
        FRAMEWORK,
        "max",
        "Add forever.",
        [call_tool("add", S.ADD_ARGS), call_tool("add", S.ADD_ARGS)],
        status="max_steps",
        final_answer=None,
        tools=[
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
        ],
        model_requested=MODEL_NAME,
        llm_steps_at_least=2,
    )


def plan() -> list[PlannedScenario]:
    """Every AutoGen scenario, fresh markers each call."""
    max_steps = _max_steps()
    concurrent = [S.success(FRAMEWORK) for _ in range(2)]
    # AgentTool is named after the agent and takes the child's task as "task".
    nested = S.nested(FRAMEWORK, delegate_tool="child_agent", question_arg="task")
    chain = shapes.nested_deep(FRAMEWORK, ("middle_agent", "bottom_agent"), "task")
    return [
        _single("success", S.success(FRAMEWORK)),
        _single("parallel_tools", shapes.parallel_tools(FRAMEWORK)),
        _single("streaming", S.success(FRAMEWORK)),
        _single(
            "structured_output",
            S.scenario(
                FRAMEWORK,
                "structured",
                "Give me the weather in Paris as a record.",
                [answer(json.dumps(shapes.STRUCTURED))],
                status="completed",
                final_answer='"temp":',  # compact in the message, as sent in the model's answer
                tools=[],
            ),
        ),
        conversation_plan(shapes.multi_turn(FRAMEWORK), MODEL_NAME),
        _single("tool_error_recovers", S.recovery(FRAMEWORK)),
        _single("fails", S.model_failure(FRAMEWORK)),
        _single("empty_answer", S.empty_answer(FRAMEWORK)),
        _single("garbled_response", S.garbled_response(FRAMEWORK)),
        PlannedScenario(
            name="max_steps",
            tasks=[max_steps.task],
            scripted=[max_steps],
            expected=[max_steps.expected],
            answers=[S.ADD_RESULT],  # AutoGen answers with the last tool results
        ),
        concurrent_plan(concurrent, [s.expected for s in concurrent]),
        nested_plan(nested, list(nested.expected)),
        PlannedScenario(
            name="nested_deep",
            tasks=[chain.top.task],
            scripted=[chain.top, chain.middle, chain.bottom],
            expected=chain.expected,
            answers=[shapes.TOP_ANSWER],
        ),
    ]


# --- teams ---------------------------------------------------------------------------

DRAFT = "draft: it is sunny in Paris"
REVIEW = "review: add the sum"
FINAL_DRAFT = "final draft: sunny, and 2 + 3 = 5"
APPROVED = "looks right, APPROVE"
SWARM_ANSWER = "2 + 3 = 5 TERMINATE"
HANDOFF_RESULT = "Transferred to writer"


def _team(
    label: str,
    turns: list[Turn],
    team: str,
    *,
    status: str,
    final_answer: str | None,
    agent_turns: list[TurnExpectation],
    error: str | None = None,
    own_llm_steps: int = 0,
) -> tuple[S.Scenario, TeamExpectation]:
    """One conversation scripted under one marker: the team's agents (and its selector)
    share the task, so their model calls are answered in the order the team makes them."""
    marker = S.tag(f"ag-{label}")
    task = f"{marker} Write a weather report."
    expected = S.RunExpectation(task=task, status=status, final_answer=final_answer)
    team_expected = TeamExpectation(
        task=task,
        agent_name=team,
        status=status,
        final_answer=final_answer,
        turns=agent_turns,
        error=error,
        own_llm_steps=own_llm_steps,
        model_requested=MODEL_NAME,
    )
    return S.Scenario(marker, turns, expected), team_expected


def _weather(result: str = S.WEATHER_RESULT) -> S.ToolExpectation:
    return S.ToolExpectation("get_weather", S.WEATHER_ARGS, result)


def team_plan() -> list[PlannedScenario]:
    """The team scenarios, fresh markers each call."""
    add = S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT)
    limit = _team(
        "team-limit",
        [
            call_tool("get_weather", S.WEATHER_ARGS),
            answer(DRAFT),
            answer(REVIEW),
            call_tool("add", S.ADD_ARGS),
            answer(FINAL_DRAFT),
        ],
        "RoundRobinGroupChat",
        status="max_steps",
        final_answer=FINAL_DRAFT,
        error="Maximum number of turns 3 reached",
        agent_turns=[
            TurnExpectation("writer", "completed", DRAFT, [_weather()], llm_steps=2),
            TurnExpectation("reviewer", "completed", REVIEW),
            TurnExpectation("writer", "completed", FINAL_DRAFT, [add], llm_steps=2),
        ],
    )
    fails = _team(
        "team-fail",
        [answer(DRAFT), fail(400, S.MODEL_ERROR)],
        "RoundRobinGroupChat",
        status="failed",
        final_answer=None,
        error=S.MODEL_ERROR,
        agent_turns=[
            TurnExpectation("writer", "completed", DRAFT),
            TurnExpectation("reviewer", "failed", None, error=S.MODEL_ERROR),
        ],
    )
    selector = _team(
        "team-select",
        [answer("writer"), answer(DRAFT), answer(APPROVED)],
        "SelectorGroupChat",
        status="completed",
        final_answer=APPROVED,
        own_llm_steps=1,  # the first pick; then only the reviewer may speak
        agent_turns=[
            TurnExpectation("writer", "completed", DRAFT),
            TurnExpectation("reviewer", "completed", APPROVED),
        ],
    )
    handoff = S.ToolExpectation("transfer_to_writer", {}, HANDOFF_RESULT)
    swarm = _team(
        "team-swarm",
        [call_tool("transfer_to_writer", {}), call_tool("add", S.ADD_ARGS), answer(SWARM_ANSWER)],
        "Swarm",
        status="completed",
        final_answer=SWARM_ANSWER,
        agent_turns=[
            TurnExpectation("planner", "completed", None, [handoff]),
            TurnExpectation("writer", "completed", SWARM_ANSWER, [add], llm_steps=2),
        ],
    )
    plans = [_resume_plan()]
    for name, (scripted, expected), reply in (
        ("team_limit", limit, FINAL_DRAFT),
        ("team_fails", fails, None),
        ("team_selector", selector, APPROVED),
        ("team_swarm", swarm, SWARM_ANSWER),
    ):
        plans.append(
            PlannedScenario(
                name=name,
                tasks=[scripted.task],
                scripted=[scripted],
                expected=[expected],
                answers=[reply],
                errors=[None if reply else S.MODEL_ERROR],
            )
        )
    return plans


BOOKED = "Booked a trip to Paris. TERMINATE"
ASKED = "Which city?"  # the booker's Handoff(target="user", message=...)


def _resume_plan() -> PlannedScenario:
    """A Swarm whose booker hands off to the user (HandoffTermination), then the user's
    reply as a ``HandoffMessage``: two team runs, the second's task the reply's text (the
    team's span holds the message's repr). The booker keeps its context, so its second
    call is answered from the first task's script."""
    asking, asked = _team(
        "team-resume",
        [call_tool("transfer_to_user", {}), answer(BOOKED)],
        "Swarm",
        status="completed",
        final_answer=ASKED,
        agent_turns=[
            TurnExpectation(
                "booker", "completed", None, [S.ToolExpectation("transfer_to_user", {}, ASKED)]
            ),
        ],
    )
    reply = f"{S.tag('ag-team-reply')} Paris, please."
    replied = TeamExpectation(
        task=reply,
        agent_name="Swarm",
        status="completed",
        final_answer=BOOKED,
        turns=[TurnExpectation("booker", "completed", BOOKED)],
        model_requested=MODEL_NAME,
    )
    return PlannedScenario(
        name="team_resume",
        tasks=[asking.task, reply],
        scripted=[asking],
        expected=[asked, replied],
        answers=[ASKED, BOOKED],
    )
