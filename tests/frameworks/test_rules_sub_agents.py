"""Sub-agents as their frameworks record them (captured shapes; see SPANS.md): a child
run's task is what its parent asked, as a person reading the logs would write it."""

from __future__ import annotations

import json

from collector import frameworks
from tests.frameworks.test_rules import _span

SMOL = "openinference.instrumentation.smolagents"
# smolagents 1.26's default ``managed_agent.task`` prompt around the manager's request.
MANAGED_PROMPT = (
    "You're a helpful agent named 'bottom_agent'.\n"
    "You have been submitted this task by your manager.\n"
    "---\nTask:\n{task}\n---\n"
    "You're helping your manager solve a wider task: so make sure to not provide a one-line "
    "answer, but give as much information as possible to give them a clear understanding of "
    "the answer.\n\nYour final_answer WILL HAVE to contain these parts:\n"
    "### 1. Task outcome (short version):\n"
)


def _smol_run(task: str) -> dict[str, object]:
    run = _span(
        "bottom_agent.run",
        SMOL,
        {
            "openinference.span.kind": "AGENT",
            "input.value": json.dumps({"task": task, "stream": False, "max_steps": None}),
            "output.value": "Zürich: sunny",
        },
    )
    return frameworks.run_fields(run)


def test_a_smolagents_managed_agent_works_on_what_its_manager_asked() -> None:
    asked = "Weather in Zürich?\nGive the temperature too."
    fields = _smol_run(MANAGED_PROMPT.format(task=asked))
    assert fields["task"] == asked
    assert fields["agent_name"] == "bottom_agent"


def test_a_smolagents_task_that_is_no_managed_prompt_is_kept_whole() -> None:
    own = "You have been submitted this task by your manager.\n---\nTask:\nnot the template"
    assert _smol_run(own)["task"] == own
    assert _smol_run("Weather in Zürich?")["task"] == "Weather in Zürich?"
