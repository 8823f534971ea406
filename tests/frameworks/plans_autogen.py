"""AutoGen AgentChat's scenarios, for its agent script (venv_agents/autogen_agent.py).

AutoGen's documented behaviours the expectations follow:

- a tool that raises becomes an error result the model reads; the run goes on;
- a failed model call ends the run with the client's error;
- ``AgentTool`` makes an agent a tool of another: its run nests under the parent's.

No max-steps scenario: at ``max_tool_iterations`` AssistantAgent returns the last tool
results as its answer, which is also its designed ending after one tool call, and no span
tells the limit. The spans record the requested model only.
"""

from __future__ import annotations

from dataclasses import replace

from tests.frameworks import scenario as S
from tests.frameworks.venv_frameworks import PlannedScenario

MODEL_NAME = "scripted-autogen"
FRAMEWORK = S.Framework(marker_prefix="ag", agent_name="weather_agent", model_name=MODEL_NAME)


def _single(name: str, scenario: S.Scenario) -> PlannedScenario:
    ok = scenario.expected.status == "completed"
    return PlannedScenario(
        name=name,
        tasks=[scenario.task],
        scripted=[scenario],
        expected=[replace(scenario.expected, model_requested=MODEL_NAME)],
        answers=[scenario.expected.final_answer if ok else None],
        errors=[None if ok else scenario.expected.error],
    )


def plan() -> list[PlannedScenario]:
    """Every AutoGen scenario, fresh markers each call."""
    concurrent = [S.success(FRAMEWORK) for _ in range(2)]
    # AgentTool is named after the agent and takes the child's task as "task".
    nested = S.nested(FRAMEWORK, delegate_tool="child_agent", question_arg="task")
    return [
        _single("success", S.success(FRAMEWORK)),
        _single("tool_error_recovers", S.recovery(FRAMEWORK)),
        _single("fails", S.model_failure(FRAMEWORK)),
        PlannedScenario(
            name="concurrent",
            tasks=[s.task for s in concurrent],
            scripted=concurrent,
            expected=[s.expected for s in concurrent],
            answers=[S.SUCCESS_ANSWER] * len(concurrent),
        ),
        PlannedScenario(
            name="nested",
            tasks=[nested.parent.task],
            scripted=[nested.parent, nested.child],
            expected=list(nested.expected),
            answers=[S.CHILD_ANSWER],
        ),
    ]
