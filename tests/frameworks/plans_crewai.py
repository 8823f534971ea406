"""CrewAI's scenarios, for its agent script (venv_agents/crewai_agent.py): the model's
turns, the tasks, and the runs the collector should show.

CrewAI's documented behaviours the expectations follow:

- a tool that raises becomes an error message the model reads; the run goes on;
- a failed model call is retried (``max_retry_limit``, 2) before the task fails, so the
  model server keeps failing here;
- at ``max_iter`` the agent must give its best answer: one more model call, without
  tools, whose text is the task's output (the run stopped at its step limit: ``max_steps``);
- ``Agent.kickoff`` runs an agent on its own: called from a tool, it is a sub-agent;
- a sequential crew hands each task's output to the next agent as context;
- a hierarchical crew's manager ("Crew Manager", its own ``manager_llm``) delegates with the
  "Delegate work to coworker" and "Ask question to coworker" tools; the coworker's answer
  is the tool's result, its model calls happen inside the tool call.
"""

from __future__ import annotations

import json
from dataclasses import replace

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.venv_frameworks import (
    PlannedScenario,
    concurrent_plan,
    nested_plan,
    single_plan,
)
from tests.scripted_llm import answer, call_tool, fail

MODEL_NAME = "scripted-crewai"
SERVED_MODEL = f"{MODEL_NAME}-served"
FRAMEWORK = S.Framework(marker_prefix="crew", agent_name="weather_agent", model_name=MODEL_NAME)
GAVE_UP_ANSWER = "my best answer after two steps"
HANDOFF_RESEARCH = "research notes: it is sunny"
HANDOFF_ANSWER = "the report says it is sunny"


def _served(expected: S.RunExpectation) -> S.RunExpectation:
    return replace(expected, model_used=SERVED_MODEL, model_requested=MODEL_NAME)


def _single(name: str, scenario: S.Scenario) -> PlannedScenario:
    answered = scenario.expected.status != "failed"
    return single_plan(name, scenario, _served(scenario.expected), answered=answered)


def _ctrl_c() -> PlannedScenario:
    """Ctrl-C while the crew's tool runs: the task's run is ``cancelled``, its tool step too."""
    scenario = S.ctrl_c(FRAMEWORK)
    return PlannedScenario(
        name="ctrl_c",
        tasks=[scenario.task],
        scripted=[scenario],
        expected=[_served(scenario.expected)],
        answers=[None],
        errors=["KeyboardInterrupt"],
    )


def plan() -> list[PlannedScenario]:
    """Every CrewAI scenario, fresh markers each call."""
    failing = S.model_failure(FRAMEWORK)
    # Every retry of the failed call fails too.
    failing = replace(failing, turns=[*failing.turns, *[fail(400, S.MODEL_ERROR)] * 3])
    max_steps = S.scenario(
        FRAMEWORK,
        "max",
        "Loop forever.",
        [call_tool("add", S.ADD_ARGS), call_tool("add", S.ADD_ARGS), answer(GAVE_UP_ANSWER)],
        status="max_steps",
        final_answer=GAVE_UP_ANSWER,
        tools=[
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
            S.ToolExpectation("add", S.ADD_ARGS, S.ADD_RESULT),
        ],
        llm_steps_at_least=3,
    )
    concurrent = [S.success(FRAMEWORK) for _ in range(2)]
    nested = S.nested(FRAMEWORK, delegate_tool="ask_child", question_arg="question")
    research = S.scenario(
        FRAMEWORK,
        "research",
        "Research the weather.",
        [answer(HANDOFF_RESEARCH)],
        status="completed",
        final_answer=HANDOFF_RESEARCH,
        tools=[],
        agent_name="researcher",
    )
    report = S.scenario(
        FRAMEWORK,
        "report",
        "Write the report.",
        [answer(HANDOFF_ANSWER)],
        status="completed",
        final_answer=HANDOFF_ANSWER,
        tools=[],
        agent_name="writer",
    )
    return [
        _single("success", S.success(FRAMEWORK)),
        _single("parallel_tools", shapes.parallel_tools(FRAMEWORK)),
        _single("streaming", S.success(FRAMEWORK)),
        _single(
            "structured_output",
            shapes.structured_output(
                FRAMEWORK, answer(json.dumps(shapes.STRUCTURED)), json.dumps(shapes.STRUCTURED)
            ),
        ),
        _single("tool_error_recovers", S.recovery(FRAMEWORK)),
        _single("fails", failing),
        _single("max_steps", max_steps),
        _ctrl_c(),
        concurrent_plan(concurrent, [_served(s.expected) for s in concurrent]),
        nested_plan(nested, [_served(e) for e in nested.expected]),
        PlannedScenario(
            name="handoff",
            tasks=[research.task, report.task],
            scripted=[research, report],
            expected=[_served(research.expected), _served(report.expected)],
            answers=[HANDOFF_ANSWER],
        ),
    ]


MANAGER_MODEL = "scripted-crewai-manager"
MANAGER_ANSWER = "report: sunny in Paris, and warm"
RESEARCH_ANSWER = "it is sunny in Paris"
WARM_ANSWER = "yes, it is warm"
DELEGATE = "Delegate work to coworker"
ASK = "Ask question to coworker"


def hierarchical_plan() -> list[PlannedScenario]:
    """A hierarchical crew: the manager's run, the coworkers' work nested in it."""
    research = S.scenario(
        FRAMEWORK,
        "delegated",
        "Find the weather in Paris.",
        [answer(RESEARCH_ANSWER)],
        status="completed",
        final_answer=RESEARCH_ANSWER,
        tools=[],
    )
    question = S.scenario(
        FRAMEWORK,
        "asked",
        "Is it warm in Paris?",
        [answer(WARM_ANSWER)],
        status="completed",
        final_answer=WARM_ANSWER,
        tools=[],
    )
    delegate_args = {
        "task": research.task,
        "context": "The user plans a walk.",
        "coworker": "researcher",
    }
    ask_args = {
        "question": question.task,
        "context": "The user plans a walk.",
        "coworker": "writer",
    }
    manager = S.scenario(
        FRAMEWORK,
        "manager",
        "Report the weather in Paris.",
        [call_tool(DELEGATE, delegate_args), call_tool(ASK, ask_args), answer(MANAGER_ANSWER)],
        status="completed",
        final_answer=MANAGER_ANSWER,
        tools=[
            S.ToolExpectation(DELEGATE, delegate_args, RESEARCH_ANSWER, inner_llm_steps=1),
            S.ToolExpectation(ASK, ask_args, WARM_ANSWER, inner_llm_steps=1),
        ],
        agent_name="Crew Manager",
        llm_steps_at_least=5,  # the manager's three calls and one per coworker
    )
    expected = replace(
        manager.expected, model_requested=MANAGER_MODEL, model_used=f"{MANAGER_MODEL}-served"
    )
    return [
        PlannedScenario(
            name="hierarchical",
            tasks=[manager.task],
            scripted=[manager, research, question],
            expected=[expected],
            answers=[MANAGER_ANSWER],
        )
    ]
