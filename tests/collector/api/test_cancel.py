"""POST /agent/runs/{id}/cancel reaching a running agent; 404, 409; the request list."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

from instrumentation import RunCancelled, agent_run
from tests.collector.api.conftest import Agents, RunSpec
from tests.collector.api.test_cli import ENV, REPO
from tests.support import wait_until


def start_looping_agent() -> tuple[threading.Thread, dict[str, Any]]:
    """An agent in a thread that takes steps until it is cancelled (30 s at most)."""
    started = threading.Event()
    outcome: dict[str, Any] = {}

    def agent() -> None:
        deadline = time.monotonic() + 30
        try:
            with agent_run("loop until told to stop", source="api") as run:
                outcome["id"] = run.id
                started.set()
                while time.monotonic() < deadline:
                    with run.step("tool_call", tool_name="poll_queue", tool_args={}):
                        # The agent's own work between step boundaries.
                        threading.Event().wait(0.05)
                    outcome["steps"] = outcome.get("steps", 0) + 1
        except RunCancelled as exc:
            outcome["cancelled_by"] = exc.requested_by
        outcome["status"] = run.status

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    assert started.wait(10)
    return thread, outcome


def wait_running(agents: Agents, run_id: str) -> None:
    def running() -> bool:
        response = agents.api.get(f"/agent/runs/{run_id}")
        return response.status_code == 200 and response.json()["status"] == "running"

    wait_until(running, timeout_s=10, what="the run to show as running")


def test_cancel_reaches_a_running_agent_which_ends_cancelled(agents: Agents) -> None:
    thread, outcome = start_looping_agent()
    run_id = outcome["id"]
    wait_running(agents, run_id)
    response = agents.api.post(
        f"/agent/runs/{run_id}/cancel", json={"requested_by": "alice", "reason": "wrong host"}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["run_id"] == run_id and body["requested_by"] == "alice"
    assert body["requested_at"].endswith("Z")

    thread.join(20)
    assert not thread.is_alive(), "the agent never saw the cancel request"
    assert outcome["status"] == "cancelled"
    assert outcome["cancelled_by"] == "alice"
    agents.flush_and_wait([run_id])
    run = agents.get(f"/agent/runs/{run_id}")
    assert run["status"] == "cancelled"
    assert run["cancel_requested_by"] == "alice"
    assert run["cancel_requested_at"] == body["requested_at"]

    # Recorded for the poller and for people.
    listed = agents.get("/agent/cancel-requests", run_id=run_id)["requests"]
    assert listed == [
        {"run_id": run_id, "requested_at": body["requested_at"], "requested_by": "alice",
         "reason": "wrong host"}
    ]  # fmt: skip
    # The run has ended now: a second request is a conflict.
    again = agents.api.post(f"/agent/runs/{run_id}/cancel", json={})
    assert again.status_code == 409 and "not running" in again.json()["detail"]


def test_cancel_unknown_and_finished_runs(agents: Agents) -> None:
    (done,) = agents.send([RunSpec("already finished")])
    missing = agents.api.post("/agent/runs/nope/cancel")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    finished = agents.api.post(f"/agent/runs/{done}/cancel")
    assert finished.status_code == 409
    assert "completed" in finished.json()["detail"]
    assert agents.get("/agent/cancel-requests", run_id=[done, "nope"])["requests"] == []
    assert agents.collector.query("SELECT count(*) FROM cancel_requests") == [(0,)]


def test_repeated_cancel_keeps_the_first_request(agents: Agents) -> None:
    with agent_run("waits", source="api") as run:
        agents.provider.force_flush(5000)
        wait_until(
            lambda: agents.api.get(f"/agent/runs/{run.id}").status_code == 200,
            timeout_s=10,
            what="the run to appear",
        )
        first = agents.api.post(f"/agent/runs/{run.id}/cancel", json={"requested_by": "bob"})
        second = agents.api.post(f"/agent/runs/{run.id}/cancel")
        assert first.status_code == second.status_code == 202
        assert second.json() == first.json()
        listed = agents.get("/agent/cancel-requests", run_id=run.id)["requests"]
        assert [r["requested_by"] for r in listed] == ["bob"]
        wait_until(lambda: run.cancel_requested, timeout_s=10, what="the poller to see it")
        run.finish(status="cancelled")


def test_cancel_from_the_terminal(agents: Agents) -> None:
    thread, outcome = start_looping_agent()
    run_id = outcome["id"]
    wait_running(agents, run_id)
    out = cancel_cli(agents.collector.api_url, run_id[:8], "--reason", "stop it", "--wait", "20")
    assert out.returncode == 0, out.stderr
    assert f"cancel requested for run {run_id}" in out.stdout
    assert f"run {run_id} ended: cancelled" in out.stdout
    thread.join(10)
    assert outcome["status"] == "cancelled"
    (row,) = agents.get("/agent/cancel-requests", run_id=run_id)["requests"]
    assert row["reason"] == "stop it" and row["requested_by"].endswith("(cli)")

    again = cancel_cli(agents.collector.api_url, run_id)
    assert again.returncode == 1
    assert "is not running (status cancelled)" in again.stderr


def cancel_cli(api: str, *args: str) -> subprocess.CompletedProcess[str]:
    entry = ["collector.cli", "cancel"]
    return subprocess.run(
        [sys.executable, "-m", *entry, *args, "--api", api],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
        timeout=60,
    )
