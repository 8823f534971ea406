"""End to end: the instrumentation exporting to the real collector over gRPC and HTTP."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

import instrumentation
from instrumentation import RunCancelled, agent_run, traced_tool
from tests.conftest import CollectorHandle
from tests.support import wait_until


def _configure(collector: CollectorHandle, protocol: str) -> None:
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    instrumentation.configure(
        endpoint=endpoint,
        protocol=protocol,
        service_name="e2e-agent",
        api_url=collector.api_url,
        cancel_poll_s=0.1,
    )


@traced_tool
def docker_logs(container: str, tail: int = 20) -> str:
    return f"{container}: killed by signal 9 (OOM)"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_traced_run_lands_in_duckdb_field_by_field(
    collector: CollectorHandle, protocol: str
) -> None:
    _configure(collector, protocol)
    with agent_run(
        "why does web-1 restart?",
        agent_name="ops",
        source="e2e",
        model_requested="qwen2.5-coder:14b",
        metadata={"ticket": 7},
    ) as run:
        run.set_model_used("qwen2.5-coder:14b-q4")
        with run.step("think") as think:
            think.set_thinking("read the logs")
            think.set_tokens(input_tokens=800, output_tokens=40)
        docker_logs("web-1", tail=50)
        with run.step("response") as response:
            response.set_result("web-1 is OOM-killed")
        run.finish(final_answer="web-1 is OOM-killed")
    assert instrumentation.shutdown(timeout_s=10)

    def completed() -> list[tuple[Any, ...]]:
        return collector.query(
            "SELECT status, task, agent_name, source, model_requested, model_used, final_answer,"
            " metadata, service_name, input_tokens, output_tokens, total_steps"
            " FROM agent_runs WHERE id = ? AND status = 'completed'",
            [run.id],
        )

    [row] = wait_until(completed, timeout_s=10)
    assert row[:7] == (
        "completed",
        "why does web-1 restart?",
        "ops",
        "e2e",
        "qwen2.5-coder:14b",
        "qwen2.5-coder:14b-q4",
        "web-1 is OOM-killed",
    )
    assert json.loads(row[7]) == {"ticket": 7}
    assert row[8:] == ("e2e-agent", 800, 40, 3)
    steps = collector.query(
        "SELECT step_number, action_type, tool_name, tool_args, tool_result, thinking,"
        " input_tokens, status FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number",
        [run.id],
    )
    assert [s[:3] for s in steps] == [
        (1, "think", None),
        (2, "tool_call", "docker_logs"),
        (3, "response", None),
    ]
    assert json.loads(steps[1][3]) == {"container": "web-1", "tail": 50}
    assert steps[1][4] == "web-1: killed by signal 9 (OOM)"
    assert steps[0][5] == "read the logs"
    assert steps[0][6] == 800
    assert {s[7] for s in steps} == {"ok"}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_run_is_running_at_the_collector_within_two_seconds_of_its_start(
    collector: CollectorHandle, protocol: str
) -> None:
    _configure(collector, protocol)
    with agent_run("live") as run:
        started = time.monotonic()
        wait_until(
            lambda: collector.query(
                "SELECT status FROM agent_runs WHERE id = ? AND status = 'running'", [run.id]
            ),
            timeout_s=10,
        )
        visible_s = time.monotonic() - started
        with run.step("tool_call", tool_name="docker_ps"):
            wait_until(
                lambda: collector.query(
                    "SELECT status FROM agent_steps WHERE agent_run_id = ? AND status = 'running'",
                    [run.id],
                ),
                timeout_s=10,
            )
    assert visible_s < 2.0, visible_s
    assert instrumentation.shutdown(timeout_s=10)
    wait_until(
        lambda: collector.query(
            "SELECT 1 FROM agent_runs WHERE id = ? AND status = 'completed'", [run.id]
        ),
        timeout_s=10,
    )
    assert collector.query("SELECT status FROM agent_steps WHERE agent_run_id = ?", [run.id]) == [
        ("ok",)
    ]


def test_cancel_through_the_api_stops_a_running_agent(collector: CollectorHandle) -> None:
    _configure(collector, "grpc")
    with pytest.raises(RunCancelled), agent_run("cancel me") as run:
        wait_until(
            lambda: collector.query("SELECT 1 FROM agent_runs WHERE id = ?", [run.id]),
            timeout_s=10,
        )
        request = urllib.request.Request(
            f"{collector.api_url}/agent/runs/{run.id}/cancel",
            data=json.dumps({"requested_by": "alice", "reason": "wrong box"}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        wait_until(lambda: run.cancel_requested, timeout_s=10)
        run.step("response")
    assert instrumentation.shutdown(timeout_s=10)
    wait_until(
        lambda: collector.query(
            "SELECT 1 FROM agent_runs WHERE id = ? AND status = 'cancelled'", [run.id]
        ),
        timeout_s=10,
    )


def test_a_failed_run_keeps_its_error(collector: CollectorHandle) -> None:
    _configure(collector, "http")
    with pytest.raises(ConnectionError), agent_run("fails") as run:
        with run.step("tool_call", tool_name="docker_ps"):
            raise ConnectionError("ssh: connect to host box-1 port 22: timed out")
    assert instrumentation.shutdown(timeout_s=10)
    [row] = wait_until(
        lambda: collector.query(
            "SELECT status, error FROM agent_runs WHERE id = ? AND status = 'failed'", [run.id]
        ),
        timeout_s=10,
    )
    assert row == ("failed", "ConnectionError: ssh: connect to host box-1 port 22: timed out")
    [step] = collector.query(
        "SELECT status, error FROM agent_steps WHERE agent_run_id = ?", [run.id]
    )
    assert step == ("error", "ConnectionError: ssh: connect to host box-1 port 22: timed out")
