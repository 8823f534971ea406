"""An Agno ``Team`` as Agno really traced it (``captured/capture_agno_team.py``, which says the
versions): the leader's run delegates to a member through ``delegate_task_to_member``; the
member's run, with its tool call, is the leader's sub-run on the task it was handed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import CollectorHandle
from tests.frameworks.test_captured_frameworks import _send, _trace_ids
from tests.support import wait_until

CAPTURED = Path(__file__).parent / "captured"
RUNS = "id, agent_name, status, task, final_answer, error, parent_run_id, total_steps"
STEPS = "action_type, tool_name, tool_args, tool_result, status, error"


def _steps(collector: CollectorHandle, run_id: str) -> list[tuple[Any, ...]]:
    return collector.query(
        f"SELECT {STEPS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number", [run_id]
    )


def test_an_agno_team_delegating_to_a_member_reads_as_agno_returned(
    module_collector: CollectorHandle,
) -> None:
    expected = json.loads((CAPTURED / "agno_team.expected.json").read_text())
    body = (CAPTURED / "agno_team.otlp").read_bytes()
    _send(module_collector, body)
    traces = _trace_ids(body)

    def settled() -> dict[str, tuple[Any, ...]] | None:
        rows = module_collector.query(
            f"SELECT {RUNS} FROM agent_runs WHERE trace_id IN (SELECT unnest(?))", [traces]
        )
        done = len(rows) == 2 and all(r[2] != "running" and r[7] for r in rows)
        return {r[1]: r for r in rows} if done else None

    runs = wait_until(settled, timeout_s=15, what="the team's runs")
    team, member = expected["team"], expected["member"]
    lead = runs[team["name"]]
    assert lead[2:7] == ("completed", team["task"], team["answer"], None, None)
    steps = _steps(module_collector, lead[0])
    assert [s[:2] for s in steps] == [
        ("think", None),
        ("tool_call", "delegate_task_to_member"),
        ("think", None),
    ]
    assert json.loads(steps[1][2]) == team["delegated"]
    assert steps[1][3:] == (member["answer"], "ok", None)

    sub = runs[member["name"]]
    assert sub[2:7] == ("completed", member["task"], member["answer"], None, lead[0])
    steps = _steps(module_collector, sub[0])
    assert [s[0] for s in steps] == ["think", "tool_call", "think"]
    (tool,) = member["tools"]
    assert (steps[1][1], json.loads(steps[1][2]), steps[1][3]) == (
        tool["name"],
        tool["args"],
        tool["result"],
    )
