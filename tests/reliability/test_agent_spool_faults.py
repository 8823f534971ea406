"""The agent's on-disk spool on a full disk, and spool files damaged while it was stopped:
a real instrumented agent process never crashes or waits on tracing, and the spool
drains past what it cannot send."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import httpx

from bench.reliability.harness import CollectorProcess, build_run_request
from tests.reliability.disk_faults import fill_file_system, small_tmpfs
from tests.reliability.test_agent_side import AgentProcess
from tests.support import unreachable_url, wait_until


def _asked_within(agent: AgentProcess, commands: list[str], timeout_s: float) -> list[Any]:
    """Answers to ``commands``; fails when they are not all answered by the deadline
    (an agent stalled on tracing)."""
    answers: list[Any] = []
    worker = threading.Thread(target=lambda: answers.extend(agent.ask(c) for c in commands))
    worker.start()
    worker.join(timeout_s)
    assert not worker.is_alive(), f"the agent answered {len(answers)} of {len(commands)}"
    return answers


def test_a_full_spool_disk_drops_batches_with_a_warning_and_never_stalls(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "spool-mnt", 1) as mnt:
        spool = mnt / "spool"
        spool.mkdir()
        fill_file_system(mnt)
        log = tmp_path / "agent.log"
        agent = AgentProcess(unreachable_url(), log, "--spool-dir", str(spool))
        try:
            answers = _asked_within(agent, ["run"] * 30, timeout_s=120)
            assert all(answer["steps"] == 3 for answer in answers)
            (farewell,) = _asked_within(agent, ["exit"], timeout_s=60)
            assert "exit" in farewell
            assert agent.proc.wait(30) == 0
        finally:
            agent.close()
    text = log.read_text()
    assert "cannot write to span spool" in text and "No space left on device" in text, text
    assert "Traceback" not in text


def test_damaged_spool_files_are_dropped_and_the_rest_is_sent(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "audit.duckdb", log_dir=tmp_path / "logs").start()
    spool = tmp_path / "spool"
    spool.mkdir()
    kept = build_run_request(51, 1, 3)
    cut = build_run_request(51, 2, 3).protobuf()
    # Names sort oldest first (instrumentation/spool.py): the damaged ones come first.
    (spool / "00000000000000000001-1-00000000.otlp").write_bytes(cut[: len(cut) // 2])
    (spool / "00000000000000000002-1-00000001.otlp").write_bytes(os.urandom(3000))
    (spool / "00000000000000000003-1-00000002.otlp").write_bytes(b"")
    (spool / "00000000000000000004-1-00000003.otlp").write_bytes(kept.protobuf())
    log = tmp_path / "agent.log"
    agent = AgentProcess(collector.grpc_endpoint, log, "--spool-dir", str(spool))
    try:
        (answer,) = _asked_within(agent, ["run"], timeout_s=60)
        wait_until(
            lambda: agent.ask("spool")["spooled_files"] == 0,
            timeout_s=60,
            interval_s=0.2,
            what="the spool to drain past the damaged files",
        )

        def status(run_id: str) -> str | None:
            got = httpx.get(f"{collector.api_url}/agent/runs/{run_id}", timeout=10)
            return got.json()["status"] if got.status_code == 200 else None

        wait_until(lambda: status(kept.run_id) == "completed", timeout_s=30, what="kept run")
        wait_until(lambda: status(answer["run_id"]) == "completed", timeout_s=30, what="new run")
        assert _asked_within(agent, ["exit"], timeout_s=60) == [{"exit": True}]
        assert collector.terminate() == 0
    finally:
        agent.close()
        collector.kill()
    assert "refused spooled batch" in log.read_text()
