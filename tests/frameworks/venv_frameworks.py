"""Frameworks whose pins clash with the project's environment run in a virtualenv of their
own: ``${AGENT_AUDIT_CACHE:-~/.cache/agent-audit}/venv-<framework>``, built by .ci/run
from ``venv_agents/requirements-<framework>.txt``.

The test side (this module, in the project's environment) owns the scripted LLM server, the
scenarios and their expectations; the agent script (``venv_agents/<framework>_agent.py``,
under the venv's python) only runs the real framework on the tasks it is given and exports
its spans over OTLP to the collector the test started.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.frameworks.scenario import (
    CHILD_ANSWER,
    SUCCESS_ANSWER,
    NestedScenario,
    RunExpectation,
    Scenario,
)
from tests.frameworks.scenario_shapes import Conversation
from tests.frameworks.teams import TeamExpectation
from tests.scripted_llm import ScriptedLLM

REPO = Path(__file__).resolve().parents[2]
AGENTS = Path(__file__).resolve().parent / "venv_agents"
AGENT_TIMEOUT_S = 300  # CrewAI alone takes ~10 s to import on a busy machine


def venv_python(framework: str) -> Path:
    """The python of ``framework``'s own virtualenv (it may not exist)."""
    cache = Path(os.environ.get("AGENT_AUDIT_CACHE") or Path.home() / ".cache" / "agent-audit")
    return cache / f"venv-{framework}" / "bin" / "python"


@dataclass(frozen=True)
class PlannedScenario:
    """One scenario of a plan: the tasks the agent script runs, and what the test expects.

        ``scripted`` are the conversations to script on the LLM server (sub-agents and hand-offs
        have their own); ``expected`` the runs the collector should show (a team's with its
    turns); ``answers`` the text
        each task's outcome must contain (None: the task must fail with ``errors``)."""

    name: str
    tasks: Sequence[str]
    scripted: Sequence[Scenario]
    expected: Sequence[RunExpectation | TeamExpectation]
    answers: Sequence[str | None]
    errors: Sequence[str | None] = ()


def single_plan(
    name: str, scenario: Scenario, expected: RunExpectation, *, answered: bool
) -> PlannedScenario:
    """One task: its answer when ``answered``, else the error it fails with; ``expected`` the
    run as this framework shows it."""
    return PlannedScenario(
        name=name,
        tasks=[scenario.task],
        scripted=[scenario],
        expected=[expected],
        answers=[scenario.expected.final_answer if answered else None],
        errors=[None if answered else scenario.expected.error],
    )


def concurrent_plan(
    runs: Sequence[Scenario], expected: Sequence[RunExpectation]
) -> PlannedScenario:
    """``concurrent``: successful ``runs`` at once; ``expected`` their runs as this framework
    shows them."""
    return PlannedScenario(
        name="concurrent",
        tasks=[s.task for s in runs],
        scripted=runs,
        expected=expected,
        answers=[SUCCESS_ANSWER] * len(runs),
    )


def nested_plan(nested: NestedScenario, expected: Sequence[RunExpectation]) -> PlannedScenario:
    """``nested``: the parent agent asks a sub-agent, whose answer it returns; ``expected``
    both runs as this framework shows them."""
    return PlannedScenario(
        name="nested",
        tasks=[nested.parent.task],
        scripted=[nested.parent, nested.child],
        expected=expected,
        answers=[CHILD_ANSWER],
    )


def conversation_plan(conversation: Conversation, model_requested: str) -> PlannedScenario:
    """``multi_turn``: the agent script runs both tasks in one conversation, in order."""
    first, second = conversation.first, conversation.second
    return PlannedScenario(
        name="multi_turn",
        tasks=[first.task, second.task],
        scripted=[dataclasses.replace(first, turns=conversation.turns)],
        expected=[
            dataclasses.replace(run, model_requested=model_requested)
            for run in conversation.expected
        ],
        answers=[str(first.expected.final_answer), str(second.expected.final_answer)],
    )


def run_agent_script(
    framework: str,
    plan: Sequence[PlannedScenario],
    llm: ScriptedLLM,
    endpoint: str,
    protocol: str,
    workdir: Path,
) -> list[dict[str, Any]]:
    """Script the LLM, run the framework's agent script on the plan, check its outcomes;
    the expected runs, as dicts (the shape test_collector_frameworks checks)."""
    for item in plan:
        for scenario in item.scripted:
            llm.script(scenario.marker, scenario.turns)
    plan_path, out_path = workdir / f"{framework}-plan.json", workdir / f"{framework}-out.json"
    plan_path.write_text(
        json.dumps([{"scenario": p.name, "tasks": list(p.tasks)} for p in plan]), "utf-8"
    )
    done = subprocess.run(
        [str(venv_python(framework)), str(AGENTS / f"{framework}_agent.py")]
        + ["--endpoint", endpoint, "--protocol", protocol, "--base-url", llm.base_url]
        + ["--plan", str(plan_path), "--out", str(out_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=AGENT_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(out_path.read_text("utf-8"))
    assert [r["scenario"] for r in results] == [p.name for p in plan], results
    for item, result in zip(plan, results, strict=True):
        outcomes = result["outcomes"]
        assert len(outcomes) == len(item.answers), (item.name, outcomes)
        errors = list(item.errors) or [None] * len(item.answers)
        for got, answer, error in zip(outcomes, item.answers, errors, strict=True):
            if answer is None:
                assert error and error in (got["error"] or ""), (item.name, got)
            else:
                assert got["error"] is None and answer in (got["answer"] or ""), (item.name, got)
    return [dataclasses.asdict(run) for item in plan for run in item.expected]
