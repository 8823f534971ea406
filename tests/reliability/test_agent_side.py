"""The agent's side: a collector outage loses nothing (spool); a killed agent's run is `lost`."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.reliability.harness import REPO, CollectorProcess
from tests.support import free_port, holds_for, wait_until

logger = logging.getLogger(__name__)


class AgentProcess:
    """``tests.reliability.agent_process`` in a child process, one command at a time."""

    def __init__(self, endpoint: str, log: Path, *extra: str) -> None:
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.agent_process", endpoint, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the agent process ended: {self.proc.poll()}"
        return json.loads(line)  # type: ignore[no-any-return]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        else:
            self._log.close()


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        agent.close()


def _run(api: str, run_id: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{api}/agent/runs/{run_id}", timeout=5)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]


def _status(api: str, run_id: str) -> str | None:
    run = _run(api, run_id)
    return run["status"] if run else None


def _stays(condition: Callable[[], bool], *, for_s: float, what: str) -> None:
    """Fail if ``condition`` is ever false during ``for_s`` seconds (polled)."""
    holds_for(condition, for_s=for_s, what=what)


def test_collector_down_for_a_while_loses_no_run_or_step(
    tmp_path: Path, agents: list[AgentProcess]
) -> None:
    grpc_port, http_port = free_port(), free_port()
    db = tmp_path / "spool.duckdb"
    spool = tmp_path / "spool"

    def collector() -> CollectorProcess:
        return CollectorProcess(
            db, log_dir=tmp_path / "logs", grpc_port=grpc_port, http_port=http_port
        ).start()

    first = collector()
    agent = AgentProcess(
        f"http://127.0.0.1:{grpc_port}", tmp_path / "agent.log", "--spool-dir", str(spool)
    )
    agents.append(agent)
    sent: list[str] = [agent.ask("run")["run_id"] for _ in range(3)]
    api = first.api_url
    wait_until(lambda: _status(api, sent[-1]) == "completed", timeout_s=30, what="first runs")
    first.kill()  # the collector dies
    # Runs keep coming while it is down ("a minute" compressed: a run every 0.25 s for 6 s).
    down_since = time.monotonic()
    pace = threading.Event()
    while time.monotonic() - down_since < 6:
        sent.append(agent.ask("run")["run_id"])
        pace.wait(0.25)  # an agent's pace, not synchronisation
    wait_until(
        lambda: agent.ask("spool")["spooled_files"] > 0,
        timeout_s=30,
        what="batches to be spooled while the collector is down",
    )
    second = collector()
    down_s = time.monotonic() - down_since
    try:
        sent += [agent.ask("run")["run_id"] for _ in range(3)]
        wait_until(
            lambda: agent.ask("spool")["spooled_files"] == 0,
            timeout_s=60,
            interval_s=0.2,
            what="the spool to drain",
        )
        wait_until(
            lambda: all(_status(api, r) == "completed" for r in sent[-3:]),
            timeout_s=30,
            what="the last runs",
        )
        assert agent.ask("exit") == {"exit": True}
        runs = {r: _run(api, r) for r in sent}
        spans = httpx.post(
            f"{api}/sql",
            json={"sql": "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans"},
        )
        assert second.terminate() == 0
    finally:
        second.kill()
    logger.info("collector down %.1f s: %d runs sent, all stored once", down_s, len(sent))
    assert len(sent) > 10
    missing = [r for r, row in runs.items() if row is None]
    assert missing == [], f"{len(missing)} of {len(sent)} runs lost"
    for run_id, row in runs.items():
        assert row is not None
        assert row["status"] == "completed", (run_id, row["status"])
        assert row["total_steps"] == 3
        assert [s["step_number"] for s in row["steps"]] == [1, 2, 3]
        assert [s["tool_name"] for s in row["steps"]] == [None, "docker_ps", "docker_logs"]
        assert len({s["id"] for s in row["steps"]}) == 3
    if spans.status_code == 200:  # /sql may be unavailable (see the reliability notes)
        total, distinct = spans.json()["rows"][0]
        assert total == distinct
    assert list(spool.glob("*.otlp")) == []


def test_a_killed_agents_run_is_marked_lost_while_a_live_one_is_not(
    tmp_path: Path, agents: list[AgentProcess]
) -> None:
    lost_after_s = 2.0
    collector = CollectorProcess(
        tmp_path / "lost.duckdb",
        log_dir=tmp_path / "logs",
        extra_args=["--lost-after", str(lost_after_s)],
    ).start()
    try:
        api = collector.api_url
        victim, survivor = (
            AgentProcess(collector.grpc_endpoint, tmp_path / f"{name}.log", "--heartbeat-s", "0.5")
            for name in ("victim", "survivor")
        )
        agents += [victim, survivor]
        victim_run = victim.ask("open")["run_id"]
        survivor_run = survivor.ask("open")["run_id"]
        wait_until(
            lambda: _status(api, victim_run) == "running" == _status(api, survivor_run),
            timeout_s=30,
            what="both runs visible as running",
        )
        # Heartbeats keep both alive well past the silence limit.
        _stays(
            lambda: _status(api, victim_run) == "running" == _status(api, survivor_run),
            for_s=2.5 * lost_after_s,
            what="both runs running while their agents live",
        )
        victim.kill()
        killed_at = time.monotonic()
        wait_until(
            lambda: _status(api, victim_run) == "lost",
            timeout_s=lost_after_s + 15,
            interval_s=0.1,
            what="the killed agent's run to be marked lost",
        )
        took_s = time.monotonic() - killed_at
        logger.info("killed agent's run marked lost %.1f s after SIGKILL", took_s)
        # The last heartbeat may have arrived up to one heartbeat before the kill.
        assert took_s >= lost_after_s - 0.5 - 0.2, f"marked lost after only {took_s:.1f}s"
        assert _status(api, survivor_run) == "running"
        assert survivor.ask("finish") == {"finished": survivor_run}
        wait_until(lambda: _status(api, survivor_run) == "completed", timeout_s=30)
        lost = _run(api, victim_run)
        assert lost is not None and lost["total_steps"] == 1
        assert survivor.ask("exit") == {"exit": True}
        assert collector.terminate() == 0
    finally:
        collector.kill()
