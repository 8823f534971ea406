"""``agent-audit show``: a run's final answer is printed once."""

from __future__ import annotations

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
