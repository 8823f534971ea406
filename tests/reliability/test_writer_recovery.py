"""The writer gets DuckDB back after a fatal error, and loses nothing it acknowledged.

A checkpoint that cannot write the file (a full disk) fails the COMMIT with DuckDB's
"FATAL Error" and leaves the database instance invalidated: every later statement on
it fails, even once space is back. The collector must open the file again, keep the
acknowledged requests in the journal meanwhile, say so in /healthz, and store every
one of them once the disk has room.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bench.reliability.chaos import check_file
from bench.reliability.harness import CollectorProcess
from collector.journal import journal_dir
from collector.journal_replay import journaled_spans
from tests.reliability.disk_faults import Prober, fill_file_system, small_tmpfs
from tests.support import wait_until


def _health(collector: CollectorProcess) -> dict[str, Any]:
    answer = httpx.get(f"{collector.api_url}/healthz", timeout=30)
    assert answer.status_code == 200, answer.text
    health: dict[str, Any] = answer.json()
    return health


def _applied(health: dict[str, Any]) -> dict[str, Any] | None:
    return health if health["status"] == "ok" and health["queued_spans"] == 0 else None


def test_an_invalidated_database_is_reopened_and_every_acknowledged_span_stored(
    tmp_path: Path,
) -> None:
    # A 1 MB checkpoint threshold: the automatic checkpoint (which writes the database
    # file, not only the WAL) comes within a few requests, and fails on the full disk.
    with small_tmpfs(tmp_path / "mnt", 48) as mnt:
        db = mnt / "audit.duckdb"
        collector = CollectorProcess(
            db, log_dir=tmp_path / "logs", env={"AGENT_AUDIT_DB_CHECKPOINT_MB": "1"}
        ).start()
        prober = Prober(collector)
        degraded: list[dict[str, Any]] = []  # /healthz answers while in trouble
        try:
            for _ in range(3):
                assert prober.fresh(1000)[1].acked
            # Room for a few journal entries but not for the checkpoint they cause.
            filler = fill_file_system(mnt, leave_bytes=400_000)

            def writer_lost_the_database() -> bool:
                _, outcome = prober.fresh(20_000)
                assert outcome.kind in ("ok", "retryable"), outcome
                health = _health(collector)
                writer = health["writer"]
                if writer["state"] != "ok":
                    degraded.append(health)
                return bool(writer.get("connection_lost") or writer["reopens"])

            wait_until(
                writer_lost_the_database,
                timeout_s=60,
                interval_s=0.05,
                what="the full disk to invalidate the database",
            )
            # Meanwhile /healthz said so, and why.
            assert any(
                h["status"] == "degraded"
                and h["writer"]["state"] == "retrying"
                and "No space left on device" in h["writer"]["last_error"]
                for h in degraded
            ), degraded
            # The fault is gone: the writer opens the file again and applies the journal.
            filler.unlink()
            wait_until(prober.resend_refused, timeout_s=60, interval_s=0.3, what="ingest to resume")
            recovered = wait_until(
                lambda: _applied(_health(collector)),
                timeout_s=60,
                interval_s=0.2,
                what="the writer to apply every acknowledged request",
            )
            assert recovered["writer"]["reopens"] >= 1, recovered
            for _ in range(3):
                assert prober.fresh(1000)[1].acked
            assert collector.terminate() == 0, collector.stderr_text()[-3000:]
        finally:
            prober.close()
            collector.kill()
        assert degraded, "/healthz never reported the writer in trouble"
        assert set(prober.answers) <= {"ok", "retryable"}, prober.answers
        assert set(prober.acked) == set(prober.attempted)
        assert check_file(db, prober.attempted, prober.acked) == []
        # Applied to DuckDB, not merely kept: the journal is empty after the clean stop.
        assert journaled_spans(journal_dir(db)) == []
