"""GET /agent/runs/{id} and /agent/runs/{id}/steps: order, fields, after_step, 404."""

from __future__ import annotations

from typing import Any

from instrumentation import agent_run
from tests.collector.api.conftest import Agents, RunSpec, ToolCall

STEP_FIELDS = {
    "id", "agent_run_id", "step_number", "action_type", "tool_name", "tool_args", "tool_result",
    "thinking", "error", "started_at", "duration_ms", "trace_id", "span_id", "parent_span_id",
    "name", "status", "model", "input_tokens", "output_tokens", "finish_reasons", "is_final",
    "command", "command_host", "command_decision", "command_reason", "command_exit_code",
}  # fmt: skip

SPEC = RunSpec(
    "investigate web-1",
    think_tokens=((100, 10), (200, 20)),
    tools=(
        ToolCall("docker_ps", {"all": True}, result="web-1 Exited (137)"),
        ToolCall("docker_logs", {"container": "web-1", "tail": 50}, error="timeout"),
        ToolCall("docker_inspect", {"container": "web-1"}, result='{"OOMKilled": true}'),
    ),
    final_answer="web-1 ran out of memory",
)


def test_run_with_steps_in_order(agents: Agents) -> None:
    (run_id,) = agents.send([SPEC])
    run = agents.get(f"/agent/runs/{run_id}")
    assert run["id"] == run_id
    assert run["final_answer"] == "web-1 ran out of memory"
    assert run["step_count"] == 5
    steps = run["steps"]
    assert [s["step_number"] for s in steps] == [1, 2, 3, 4, 5]
    assert [s["action_type"] for s in steps] == ["think", "think"] + ["tool_call"] * 3
    assert [s["tool_name"] for s in steps[2:]] == ["docker_ps", "docker_logs", "docker_inspect"]
    starts = [s["started_at"] for s in steps]
    assert starts == sorted(starts)
    for step in steps:
        assert set(step) >= STEP_FIELDS, STEP_FIELDS - set(step)
        assert step["agent_run_id"] == run_id
    # tool_args is a JSON value, not text.
    assert steps[2]["tool_args"] == {"all": True}
    assert steps[3]["tool_args"] == {"container": "web-1", "tail": 50}
    assert steps[2]["tool_result"] == "web-1 Exited (137)"
    assert steps[3]["status"] == "error" and "timeout" in steps[3]["error"]
    assert steps[0]["input_tokens"] == 100 and steps[1]["output_tokens"] == 20
    assert run["input_tokens"] == 300 and run["output_tokens"] == 30


def test_steps_after_step(agents: Agents) -> None:
    (run_id,) = agents.send([SPEC])
    body = agents.get(f"/agent/runs/{run_id}/steps", after_step=3)
    assert [s["step_number"] for s in body["steps"]] == [4, 5]
    assert agents.get(f"/agent/runs/{run_id}/steps", after_step=5)["steps"] == []
    everything = agents.get(f"/agent/runs/{run_id}/steps")["steps"]
    assert [s["id"] for s in everything] == [
        s["id"] for s in agents.get(f"/agent/runs/{run_id}")["steps"]
    ]


def test_unknown_run_is_404_json(agents: Agents) -> None:
    for path in ("/agent/runs/no-such-run", "/agent/runs/no-such-run/steps"):
        response = agents.api.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        assert "no-such-run" in response.json()["detail"]


def test_a_running_run_shows_live(agents: Agents) -> None:
    from instrumentation import agent_run
    from tests.support import wait_until

    with agent_run("long job", source="api") as run:
        with run.step("tool_call", tool_name="sleepy", tool_args={"s": 1}):
            pass
        with run.step("think"):
            agents.provider.force_flush(5000)

            def visible() -> dict[str, Any]:
                r = agents.api.get(f"/agent/runs/{run.id}")
                body: dict[str, Any] = r.json() if r.status_code == 200 else {}
                return body if len(body.get("steps", [])) == 2 else {}

            live = wait_until(visible, timeout_s=10, what="the running run and its steps")
            assert live["status"] == "running"
            assert live["elapsed_ms"] is not None and live["elapsed_ms"] >= 0
            assert live["duration_ms"] is None
            assert [s["status"] for s in live["steps"]] == ["ok", "running"]
            listed = agents.get("/agent/runs", status="running")
            assert [r["id"] for r in listed["runs"]] == [run.id]
    agents.flush_and_wait([run.id])
    assert agents.get(f"/agent/runs/{run.id}")["status"] == "completed"


def test_sub_agent_runs_by_parent_run_id(agents: Agents) -> None:
    with agent_run("plan the release", agent_name="planner") as planner:
        with agent_run("check the images", agent_name="worker") as first:
            first.finish(final_answer="images fine")
        with agent_run("check the hosts", agent_name="worker") as second:
            second.finish(final_answer="hosts fine")
        planner.finish(final_answer="ship it")
    (other,) = agents.send([SPEC])
    agents.flush_and_wait([planner.id, first.id, second.id])
    body = agents.get("/agent/runs", parent_run_id=planner.id)
    assert sorted(r["id"] for r in body["runs"]) == sorted([first.id, second.id])
    assert body["total"] == 2
    assert agents.get("/agent/runs", parent_run_id=other)["runs"] == []


def test_one_stored_span_by_its_ids(agents: Agents) -> None:
    (run_id,) = agents.send([SPEC])
    step = agents.get(f"/agent/runs/{run_id}")["steps"][3]  # docker_logs, failed
    span = agents.get(f"/spans/{step['trace_id']}/{step['span_id']}")
    assert (span["trace_id"], span["span_id"]) == (step["trace_id"], step["span_id"])
    assert span["status_code"] == 2 and span["end_ns"] > span["start_ns"]
    assert isinstance(span["attributes"], dict)  # JSON decoded, not text
    assert "docker_logs" in span["attributes"].values()
    assert any(e.get("name") == "exception" for e in span["events"])
    missing = agents.api.get(f"/spans/{step['trace_id']}/{'0' * 16}")
    assert missing.status_code == 404
    assert agents.api.get(f"/spans/{step['trace_id']}/x'--").status_code == 400
