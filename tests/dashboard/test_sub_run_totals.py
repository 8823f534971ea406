"""A container run's page adds up its sub-agent runs (AppTest against a real collector)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from instrumentation import agent_run
from tests.collector.api.conftest import Agents, traced_agents
from tests.conftest import start_test_collector
from tests.dashboard.conftest import AppFactory
from tests.dashboard.test_pages import open_page, page_text


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[Agents, str, str]]:
    handle = start_test_collector(tmp_path / "audit.duckdb")
    try:
        with traced_agents(handle) as agents:
            with agent_run("review the release", agent_name="team") as parent:
                for name, tokens in (("images", 1_200), ("hosts", 3_400)):
                    with agent_run(f"check {name}", agent_name="worker") as child:
                        with child.step("think") as step:
                            step.set_tokens(input_tokens=tokens, output_tokens=100)
                        if name == "hosts":
                            child.finish(status="failed", error="ssh refused")
                        else:
                            child.finish(final_answer="fine")
                parent.finish(final_answer="not yet")
            agents.flush_and_wait([parent.id, child.id])
            yield agents, parent.id, child.id
    finally:
        handle.stop()


def test_a_team_run_page_sums_its_sub_agent_runs(
    team: tuple[Agents, str, str], app: AppFactory
) -> None:
    agents, parent, child = team
    at = open_page(app(agents.collector.api_url), "screens/run.py", run=parent)
    assert not at.exception, at.exception
    text = page_text(at).replace("\\", "")
    assert "With its 2 sub-agent runs (1 failed), 4,600 / 200 tokens in / out" in text
    at = open_page(app(agents.collector.api_url), "screens/run.py", run=child)
    assert "sub-agent run" not in page_text(at)
