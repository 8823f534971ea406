"""The Traceloop SDK's scenarios, for its agent script (venv_agents/traceloop_agent.py).

What Traceloop documents, and the expectations follow: ``@agent`` and ``@workflow`` each
trace a unit of work (a run; an agent inside another run is its child run), ``@tool`` a
tool (a step with the function's arguments and return value), ``@task`` a step of a
workflow (transparent: its model calls are the run's steps; alone, it is the run). An
exception in a decorated function marks its span as failed and propagates: a tool's
error is the tool step's (the script's loop tells the model and goes on), a model error
fails the agent and every run around it. OpenLLMetry's OpenAI instrumentation records the
requested and the served model, and the tokens of each call.
"""

from __future__ import annotations

from dataclasses import replace

from tests.frameworks import scenario as S
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.teams import TeamExpectation, TurnExpectation
from tests.frameworks.venv_frameworks import (
    PlannedScenario,
    concurrent_plan,
    nested_plan,
    single_plan,
)
from tests.scripted_llm import Turn, answer, call_tool, fail

MODEL_NAME = "scripted-traceloop"
SERVED_NAME = f"{MODEL_NAME}-served"  # what the scripted server says it ran
FRAMEWORK = S.Framework(marker_prefix="tl", agent_name="weather_agent", model_name=MODEL_NAME)
SUMMARY = "The sky is blue."
OUTLINE = "1. weather 2. summary"
NOTES = "notes: sunny in Paris"
REPORT = "Report: it is sunny in Paris."


def _single(name: str, scenario: S.Scenario) -> PlannedScenario:
    expected = replace(scenario.expected, model_requested=MODEL_NAME, model_used=SERVED_NAME)
    return single_plan(name, scenario, expected, answered=scenario.expected.status == "completed")


def _nested() -> PlannedScenario:
    nested = S.nested(FRAMEWORK, delegate_tool="ask_child", question_arg="question")
    served = [
        replace(e, model_requested=MODEL_NAME, model_used=SERVED_NAME) for e in nested.expected
    ]
    return nested_plan(nested, served)


def plan() -> list[PlannedScenario]:
    """One agent at a time, fresh markers each call."""
    concurrent = [S.success(FRAMEWORK) for _ in range(2)]
    task_alone = S.scenario(
        FRAMEWORK,
        "task",
        "Summarize: the sky is blue because of Rayleigh scattering.",
        [answer(SUMMARY)],
        status="completed",
        final_answer=SUMMARY,
        tools=[],
        agent_name="summarize",
        model_requested=MODEL_NAME,
    )
    return [
        _single("success", S.success(FRAMEWORK)),
        _single("parallel_tools", shapes.parallel_tools(FRAMEWORK)),
        _single("streamed", S.success(FRAMEWORK)),
        _single("tool_error_recovers", S.recovery(FRAMEWORK)),
        _single("fails", S.model_failure(FRAMEWORK)),
        _single("empty_answer", S.empty_answer(FRAMEWORK)),
        _single("garbled_response", S.garbled_response(FRAMEWORK)),
        concurrent_plan(
            concurrent, [replace(s.expected, model_used=SERVED_NAME) for s in concurrent]
        ),
        _nested(),
        _single("task_alone", task_alone),
        _ctrl_c(),
    ]


def _ctrl_c() -> PlannedScenario:
    """A weather call, then Ctrl-C in the next tool: the decorators end neither that tool's
    span nor the agent's, whose last pending copy (sent as the process shuts its tracing
    down) makes the run ``cancelled``; the cut tool never becomes a step."""
    oslo = {"city": "Oslo"}
    scenario = S.scenario(
        FRAMEWORK,
        "ctrlc",
        "Weather in Oslo, twice? (interrupted)",
        [call_tool("get_weather", oslo), call_tool("interrupt", oslo)],
        status="cancelled",
        final_answer=None,
        tools=[S.ToolExpectation("get_weather", oslo, "sunny in Oslo")],
        llm_steps_at_least=2,
    )
    return PlannedScenario(
        name="ctrl_c",
        tasks=[scenario.task],
        scripted=[scenario],
        expected=[replace(scenario.expected, model_requested=MODEL_NAME, model_used=SERVED_NAME)],
        answers=[None],
        errors=["KeyboardInterrupt"],
    )


def _workflow(
    label: str, writer_turn: Turn, *, status: str, writer: TurnExpectation
) -> tuple[S.Scenario, TeamExpectation]:
    """The weather_report workflow: its outline task's model call, the researcher's two,
    then the writer's. They all work on the workflow's topic, so they share its script."""
    marker = S.tag(f"tl-{label}")
    topic = f"{marker} Write a weather report for Paris."
    turns = [answer(OUTLINE), call_tool("get_weather", S.WEATHER_ARGS), answer(NOTES), writer_turn]
    ok = status == "completed"
    expected = TeamExpectation(
        task=topic,
        agent_name="weather_report",
        status=status,
        final_answer=REPORT if ok else None,
        error=None if ok else S.MODEL_ERROR,
        own_llm_steps=1,  # the outline task's model call: the task is no step, nor a run
        model_requested=MODEL_NAME,
        turns=[
            TurnExpectation(
                "researcher",
                "completed",
                NOTES,
                [S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)],
                llm_steps=2,
            ),
            writer,
        ],
    )
    run = S.RunExpectation(task=topic, status=status, final_answer=expected.final_answer)
    return S.Scenario(marker, turns, run), expected


def workflow_plan() -> list[PlannedScenario]:
    """A workflow of two agents (each a child run of the workflow's), then the same with
    the writer's model call failing; and the nested agents and a tool error, so that
    ``rederive`` is checked on every shape."""
    done = _workflow(
        "flow",
        answer(REPORT),
        status="completed",
        writer=TurnExpectation("writer", "completed", REPORT),
    )
    failed = _workflow(
        "flow-fail",
        fail(400, S.MODEL_ERROR),
        status="failed",
        writer=TurnExpectation("writer", "failed", None, error=S.MODEL_ERROR),
    )
    flows = [
        PlannedScenario(
            name="workflow",
            tasks=[scripted.task],
            scripted=[scripted],
            expected=[expected],
            answers=[expected.final_answer],
            errors=[expected.error],
        )
        for scripted, expected in (done, failed)
    ]
    return [*flows, _nested(), _single("tool_error_recovers", S.recovery(FRAMEWORK))]
