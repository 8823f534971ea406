"""Semantic Kernel agents in other shapes than the shared agent's, as it really traced them
(``captured/capture_semantic_kernel_agents.py``, which says the versions): an agent another
agent uses as a plugin, two function calls in one turn (the first raising), and a request
passed positionally; sent over the wire to a real collector and read back field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import CollectorHandle
from tests.frameworks.test_captured_frameworks import _send, _trace_ids
from tests.support import wait_until

CAPTURED = Path(__file__).parent / "captured"
NAME = "semantic_kernel_agents"
RUNS = "id, agent_name, status, task, final_answer, error, parent_run_id, total_steps"
STEPS = "action_type, tool_name, tool_args, tool_result, status, error"


def _runs(collector: CollectorHandle, body: bytes) -> dict[str, tuple[Any, ...]]:
    """The capture's four runs by agent name, once each has its steps and an outcome."""
    traces = _trace_ids(body)

    def settled() -> dict[str, tuple[Any, ...]] | None:
        rows = collector.query(
            f"SELECT {RUNS} FROM agent_runs WHERE trace_id IN (SELECT unnest(?))", [traces]
        )
        done = len(rows) == 4 and all(r[2] != "running" and r[7] for r in rows)
        return {r[1]: r for r in rows} if done else None

    return wait_until(settled, timeout_s=15, what="the Semantic Kernel runs")


def _steps(collector: CollectorHandle, run_id: str) -> list[tuple[Any, ...]]:
    return collector.query(
        f"SELECT {STEPS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number", [run_id]
    )


def test_semantic_kernel_agents_read_as_the_agents_returned(
    module_collector: CollectorHandle,
) -> None:
    expected = json.loads((CAPTURED / f"{NAME}.expected.json").read_text())
    body = (CAPTURED / f"{NAME}.otlp").read_bytes()
    _send(module_collector, body)
    runs = _runs(module_collector, body)

    # The agent used as a plugin is the host's sub-run, working on what the call handed it
    # (its own span records no input: the plugin passes the messages by keyword).
    hosting = expected["as_plugin"]
    child = hosting["child"]
    host = runs[hosting["agent"]]
    assert host[2:7] == ("completed", None, hosting["answer"], None, None)
    steps = _steps(module_collector, host[0])
    assert [s[:2] for s in steps] == [
        ("think", None),
        ("tool_call", hosting["tool"]),
        ("think", None),
    ]
    assert json.loads(steps[1][2]) == {"messages": child["task"]}
    assert steps[1][3:] == (child["answer"], "ok", None)
    sub = runs[child["agent"]]
    assert sub[2:7] == ("completed", child["task"], child["answer"], None, host[0])
    assert [s[0] for s in _steps(module_collector, sub[0])] == ["think"]

    # Two calls in one turn, the first raising: both steps, in order, between the two calls.
    parallel = expected["parallel"]
    run = runs[parallel["agent"]]
    assert run[2:6] == ("completed", None, parallel["answer"], None)
    steps = _steps(module_collector, run[0])
    assert [s[0] for s in steps] == ["think", "tool_call", "tool_call", "think"]
    failed, done = steps[1], steps[2]
    assert json.loads(failed[2]) == parallel["calls"][0]["args"]
    assert (failed[3], failed[4]) == (None, "error")
    assert parallel["calls"][0]["error"] in failed[5]
    assert json.loads(done[2]) == parallel["calls"][1]["args"]
    assert done[3:] == (parallel["calls"][1]["result"], "ok", None)

    # A request passed positionally is on the agent's span: the run's task.
    positional = expected["positional"]
    run = runs[positional["agent"]]
    assert run[2:7] == ("completed", positional["task"], positional["answer"], None, None)
