"""The everyday-use scenarios (scenario_habits.py) for the frameworks run in a virtualenv of
their own: what each agent script plays (venv_agents/*_agent.py handle the same names) and
the runs the collector should show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tests.frameworks import plans_autogen, plans_crewai, plans_llamaindex, plans_traceloop
from tests.frameworks import scenario as S
from tests.frameworks import scenario_habits as habits
from tests.frameworks import scenario_shapes as shapes
from tests.frameworks.venv_frameworks import PlannedScenario
from tests.scripted_llm import fail

Decorate = Callable[[S.RunExpectation], S.RunExpectation]


def _planned(name: str, scenarios: list[S.Scenario], decorate: Decorate) -> PlannedScenario:
    """Each scenario one task, played in one go (at once, for ``mixed_at_once``)."""
    return PlannedScenario(
        name=name,
        tasks=[s.task for s in scenarios],
        scripted=scenarios,
        expected=[decorate(s.expected) for s in scenarios],
        answers=[
            s.expected.final_answer if s.expected.status != "failed" else None for s in scenarios
        ],  # fmt: skip
        errors=[s.expected.error if s.expected.status == "failed" else None for s in scenarios],
    )


def habits_plan(
    fw: S.Framework,
    decorate: Decorate,
    failing: Callable[[S.Scenario], S.Scenario] = lambda s: s,
) -> list[PlannedScenario]:
    """The scenarios for ``fw``'s agent; ``decorate`` adds what its runs record of the
    model, ``failing`` what its model failure needs scripted (retries)."""
    mixed = habits.mixed_at_once(fw)
    mixed[2] = failing(mixed[2])
    return [
        _planned("no_argument_tool", [habits.no_argument_tool(fw)], decorate),
        _planned("text_with_tool_call", [habits.text_with_tool_call(fw)], decorate),
        _planned("mixed_at_once", mixed, decorate),
        _planned("outer_span", [S.success(fw)], decorate),
        _planned("streamed_parallel_tools", [shapes.parallel_tools(fw)], decorate),
    ]


def _requested(model: str) -> Decorate:
    return lambda expected: replace(expected, model_requested=model)


def _crewai_failing(scenario: S.Scenario) -> S.Scenario:
    # CrewAI retries a failed model call (max_retry_limit): every retry fails too.
    return replace(scenario, turns=[*scenario.turns, *[fail(400, S.MODEL_ERROR)] * 3])


PLANS: dict[str, Callable[[], list[PlannedScenario]]] = {
    "crewai": lambda: habits_plan(
        plans_crewai.FRAMEWORK, plans_crewai._served, failing=_crewai_failing
    ),
    "llamaindex": lambda: habits_plan(
        plans_llamaindex.FRAMEWORK, _requested(plans_llamaindex.MODEL_NAME)
    ),
    "autogen": lambda: habits_plan(plans_autogen.FRAMEWORK, _requested(plans_autogen.MODEL_NAME)),
    "traceloop": lambda: habits_plan(
        plans_traceloop.FRAMEWORK,
        lambda e: replace(
            e, model_requested=plans_traceloop.MODEL_NAME, model_used=plans_traceloop.SERVED_NAME
        ),
    ),
}
