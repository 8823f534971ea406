"""Retention deletes old runs, steps and spans, records it, and the chain still verifies."""

from __future__ import annotations

from pathlib import Path

from collector.cli_verify import verify_file
from tests.conftest import start_test_collector
from tests.ingest.otlp import export, record_spans
from tests.ingest.test_ingest import crash_investigation
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
        log = handle.query("SELECT runs_deleted, steps_deleted, spans_deleted FROM retention_log")
        assert (1, 4, 5) in log
    finally:
        handle.stop()
    report = verify_file(db)
    assert report["ok"], report
    assert report["anchor_seq"] >= 5  # the chain now starts after the deleted spans
