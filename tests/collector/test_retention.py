"""Retention deletes old runs, steps and spans, records it, and the chain still verifies."""

from __future__ import annotations

from pathlib import Path

from collector.verify import verify_file
from tests.collector.ingest.otlp import export, record_spans
from tests.collector.ingest.test_ingest import crash_investigation
from tests.conftest import start_test_collector
from tests.support import wait_until


def test_retention_removes_old_rows_and_keeps_the_chain_verifiable(tmp_path: Path) -> None:
    db = tmp_path / "retention.duckdb"
    handle = start_test_collector(db, retention_days=1.5 / 86400)  # 1.5 seconds
    try:
        export("grpc", handle, record_spans(lambda t: crash_investigation(t, "old")))
        assert handle.query("SELECT count(*) FROM agent_runs")[0][0] == 1
        wait_until(
            lambda: handle.query("SELECT count(*) FROM spans")[0][0] == 0,
            timeout_s=20,
            what="old spans deleted",
        )
        export("grpc", handle, record_spans(lambda t: crash_investigation(t, "new")))
        runs = handle.query("SELECT id FROM agent_runs")
        assert ("old",) not in runs
        assert handle.query("SELECT count(*) FROM agent_steps WHERE agent_run_id = 'old'") == [(0,)]
        # Runs go by start time and spans by arrival, so they may leave in different passes.
        log = handle.query(
            "SELECT sum(runs_deleted), sum(steps_deleted), sum(spans_deleted) FROM retention_log"
        )
        assert log[0][0] >= 1 and log[0][1] >= 4 and log[0][2] >= 5
    finally:
        handle.stop()
    report = verify_file(db)
    assert report["ok"], report
    assert report["anchor_seq"] >= 5  # the chain now starts after the deleted spans
