"""Acknowledged means stored: kill -9 at random moments, and SIGTERM under load."""

from __future__ import annotations

import logging
import os
import random
import subprocess
from pathlib import Path

import duckdb
import pytest

from bench.reliability.chaos import KillCampaign, Load, check_file
from bench.reliability.harness import CollectorProcess
from tests.support import wait_until

# Seeded so a failure replays; AGENT_AUDIT_RELIABILITY_SEED picks another schedule.
SEED = int(os.environ.get("AGENT_AUDIT_RELIABILITY_SEED", "9"))
logger = logging.getLogger(__name__)
KILLS = 20


def test_kill_9_at_random_moments_loses_no_acknowledged_span(tmp_path: Path) -> None:
    result = KillCampaign(tmp_path, kills=KILLS, seed=SEED).run()
    summary = (
        f"seed={SEED} kills={result.kills} in_flight={result.kills_with_requests_in_flight} "
        f"acked={result.requests_acked}/{result.requests_attempted} outcomes={result.outcomes}"
    )
    logger.info("kill -9 campaign: %s, restarts %s", summary, result.restarts)
    assert result.problems == [], summary
    assert result.kills == KILLS
    # The kills must really land under load, not between idle requests.
    assert result.kills_with_requests_in_flight >= KILLS // 2, summary
    assert result.requests_acked == result.requests_attempted, summary
    assert result.requests_acked >= 4 * KILLS, summary
    assert result.outcomes["rejected"] == 0, summary
    assert result.final_exit_code == 0
    assert result.final_wal_bytes == 0


@pytest.mark.parametrize("seed_offset", [0, 1, 2])
def test_sigterm_mid_load_acks_only_what_it_stored_and_checkpoints(
    tmp_path: Path, seed_offset: int
) -> None:
    seed = SEED + seed_offset
    rng = random.Random(seed)
    db = tmp_path / "term.duckdb"
    collector = CollectorProcess(db, log_dir=tmp_path / "logs").start()
    load = Load(seed=seed)
    load.start()
    try:
        load.endpoints.publish(collector.grpc_target, collector.http_endpoint)
        epoch = load.current_epoch()
        wait_until(lambda: load.acks_in_epoch(epoch) >= 10, timeout_s=30, what="load flowing")
        load.give_up.wait(rng.uniform(0.0, 0.5))
        in_flight = load.in_flight()
        # A deadline, not a pace: on a starved CI machine the queued spans may take a
        # while to commit; the collector logs each shutdown phase's time.
        try:
            exit_code = collector.terminate(timeout_s=120)
        except subprocess.TimeoutExpired:
            pytest.fail("no exit 120 s after SIGTERM:\n" + collector.stderr_text()[-3000:])
    finally:
        load.stop()
        collector.kill()
    attempted, acked = load.ledger.snapshot()
    logger.info(
        "SIGTERM with %d request(s) in flight: %d acknowledged, answers %s",
        in_flight,
        len(acked),
        dict(load.ledger.outcomes),
    )
    assert exit_code == 0, collector.stderr_text()[-3000:]
    assert "stopped" in collector.stdout_text()
    # Every answer was an acknowledgement, a retryable code or no answer at all.
    assert load.ledger.rejections == []
    assert set(load.ledger.outcomes) <= {"ok", "retryable", "connection"}
    assert in_flight >= 1, "SIGTERM should land with requests in flight"
    # Shutdown checkpoints: the WAL is folded into the file.
    wal = db.with_name(db.name + ".wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert check_file(db, attempted, acked) == []
    with duckdb.connect(str(db), read_only=True) as con:
        stored_runs = con.execute("SELECT count(*) FROM agent_runs").fetchone()
    assert stored_runs is not None and stored_runs[0] >= len(acked) >= 10
