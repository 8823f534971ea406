"""Several agents in one run, from the real packages in their own venvs: AutoGen's teams
(RoundRobinGroupChat, SelectorGroupChat, Swarm hand-offs), CrewAI's hierarchical crew
(a manager delegating to coworkers) and a Traceloop ``@workflow`` of two ``@agent``s.
Checked field by field, then again after ``agent-audit rederive`` rebuilt the runs and
steps from the stored spans."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import start_test_collector
from tests.frameworks import plans_autogen, plans_crewai, plans_traceloop
from tests.frameworks.collector_checks import check_run, check_tokens_counted_once
from tests.frameworks.teams import TeamExpectation, check_team, derived_rows, rederived_rows
from tests.frameworks.venv_frameworks import PlannedScenario, run_agent_script, venv_python
from tests.scripted_llm import ScriptedLLM
from tests.support import require_or_skip

PLANS: dict[str, Callable[[], list[PlannedScenario]]] = {
    "autogen": plans_autogen.team_plan,
    "crewai": plans_crewai.hierarchical_plan,
    "traceloop": plans_traceloop.workflow_plan,
}
CASES = [("autogen", "grpc"), ("crewai", "http"), ("traceloop", "grpc")]


def _expected_runs(plan: list[PlannedScenario]) -> int:
    """The runs the plan should leave: one per run expected, plus a team's turns."""
    return sum(
        1 + len(e.turns) if isinstance(e, TeamExpectation) else 1
        for item in plan
        for e in item.expected
    )


@pytest.mark.parametrize(("framework", "protocol"), CASES)
def test_multi_agent_runs_nest_and_rederive_the_same(
    framework: str, protocol: str, tmp_path: Path
) -> None:
    python = venv_python(framework)
    require_or_skip(python.exists(), f"{framework} runs in {python.parent.parent} (.ci/run)")
    plan = PLANS[framework]()
    db = tmp_path / "audit.duckdb"
    collector = start_test_collector(db)
    try:
        endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
        with ScriptedLLM() as llm:
            expected_runs = run_agent_script(framework, plan, llm, endpoint, protocol, tmp_path)
        for expected in expected_runs:
            if "turns" in expected:
                check_team(collector, expected, framework)
            else:
                check_run(collector, expected, framework)
        assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == _expected_runs(plan)
        orphans = collector.query("SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL")
        assert orphans[0][0] == 0
        check_tokens_counted_once(collector)
        before = derived_rows(collector.query)
    finally:
        collector.stop()

    assert rederived_rows(db) == before
