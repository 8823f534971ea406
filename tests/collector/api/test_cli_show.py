"""``agent-audit show``: a run's final answer is printed once."""

from __future__ import annotations

import json
import re

import pytest

from collector import queries
from instrumentation import agent_run
from tests.collector.api.conftest import Agents
from tests.collector.api.test_cli import cli


def test_show_prints_the_final_answer_once(agents: Agents) -> None:
    answer = "web-1 ran out of disk; freed 2 GiB and restarted it"
    with agent_run("why is web-1 down", source="api") as run:
        with run.step("response") as step:
            step.set_result(answer)
        run.finish(final_answer=answer)
    agents.flush_and_wait([run.id])
    shown = cli(agents.collector.api_url, "show", run.id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count(answer) == 1, shown.stdout
    assert f"Final answer: {answer}" in shown.stdout
    assert "result: the final answer, printed below" in shown.stdout


def test_show_prints_every_step_of_a_run_longer_than_its_page(
    agents: Agents, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "RUN_PAGE_STEPS", 10)
    with agent_run("a long run", source="api") as run:
        for number in range(1, 26):
            with run.step("tool_call", tool_name=f"tool_{number:02d}") as step:
                step.set_result(f"done {number}")
        run.finish(final_answer="all done")
    agents.flush_and_wait([run.id])
    shown = cli(agents.collector.api_url, "show", run.id)
    assert shown.returncode == 0, shown.stderr
    named = re.findall(r"tool_(\d\d)", shown.stdout)
    assert named == [f"{n:02d}" for n in range(1, 26)], shown.stdout
    as_json = json.loads(cli(agents.collector.api_url, "show", "--json", run.id).stdout)
    assert [s["step_number"] for s in as_json["steps"]] == list(range(1, 26))
    assert as_json["steps_truncated"] is False
