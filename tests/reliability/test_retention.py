"""AGENT_AUDIT_RETENTION_DAYS: old runs, steps and spans go; the chain records it; verify holds."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from bench.reliability.harness import HttpSender, RunRequest, build_run_request
from collector.settings import Settings
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import run_cli, wait_until

DAY_NS = 86_400 * 10**9


def _send(handle: CollectorHandle, requests: list[RunRequest]) -> None:
    sender = HttpSender(handle.http_endpoint)
    try:
        for request in requests:
            assert sender.send(request.protobuf()).acked
    finally:
        sender.close()


def _count(handle: CollectorHandle, table: str, column: str, values: list[str]) -> int:
    return int(
        handle.query(
            f"SELECT count(*) FROM {table} WHERE {column} IN (SELECT unnest(?))", [values]
        )[0][0]
    )


def _verify_ok(db: Path) -> str:
    done = run_cli("verify", "--db", str(db))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_environment_variable_is_read() -> None:
    assert Settings.from_env({"AGENT_AUDIT_RETENTION_DAYS": "30"}).retention_days == 30
    assert Settings.from_env({}).retention_days == 0


def test_retention_removes_what_aged_out_and_the_chain_still_verifies(tmp_path: Path) -> None:
    db = tmp_path / "retention.duckdb"
    window_s = 3.0
    handle = start_test_collector(db, retention_days=window_s / 86_400, lost_after_s=2.0)
    try:
        aged = [build_run_request(110, seq, 2) for seq in range(3)]
        _send(handle, aged)
        aged_runs = [r.run_id for r in aged]
        aged_traces = [r.trace_id for r in aged]
        sent_at = time.monotonic()
        wait_until(
            lambda: _count(handle, "agent_runs", "id", aged_runs) == 0,
            timeout_s=window_s + 20,
            interval_s=0.1,
            what="aged runs to be removed",
        )
        assert time.monotonic() - sent_at >= window_s - 0.5, "removed before the window passed"
        fresh = [build_run_request(111, seq, 2) for seq in range(2)]
        _send(handle, fresh)
        assert _count(handle, "agent_steps", "agent_run_id", aged_runs) == 0
        wait_until(
            lambda: _count(handle, "spans", "trace_id", aged_traces) == 0,
            timeout_s=10,
            what="aged spans to be removed",
        )
        assert _count(handle, "agent_runs", "id", [r.run_id for r in fresh]) == 2
        assert _count(handle, "spans", "trace_id", [r.trace_id for r in fresh]) == 6
    finally:
        handle.stop()
    with duckdb.connect(str(db), read_only=True) as con:
        log = con.execute(
            "SELECT sum(runs_deleted), sum(steps_deleted), sum(spans_deleted), max(anchor_seq) "
            "FROM retention_log"
        ).fetchone()
        anchor = con.execute("SELECT seq FROM chain_anchor").fetchone()
    assert log == (3, 6, 9, 9)
    assert anchor == (9,)
    assert _verify_ok(db).startswith("OK")


def test_runs_with_old_timestamps_go_with_their_steps_and_spans(tmp_path: Path) -> None:
    # A backfill (or a spool replayed late): spans received now but started 40 days ago.
    # With a 30-day window the run, its steps and its spans (which hold the same tool
    # arguments and results) must all go; recent ones stay.
    db = tmp_path / "old.duckdb"
    handle = start_test_collector(db, retention_days=30, lost_after_s=2.0)
    try:
        old = build_run_request(112, 1, 3, start_ns=time.time_ns() - 40 * DAY_NS)
        recent = build_run_request(112, 2, 3, start_ns=time.time_ns() - 5 * DAY_NS)
        _send(handle, [old, recent])
        wait_until(
            lambda: _count(handle, "agent_runs", "id", [old.run_id]) == 0,
            timeout_s=20,
            what="the 40-day-old run to be removed",
        )
        assert _count(handle, "agent_steps", "agent_run_id", [old.run_id]) == 0
        assert _count(handle, "agent_runs", "id", [recent.run_id]) == 1
        assert _count(handle, "agent_steps", "agent_run_id", [recent.run_id]) == 3
        assert _count(handle, "spans", "trace_id", [recent.trace_id]) == 4
        wait_until(
            lambda: _count(handle, "spans", "trace_id", [old.trace_id]) == 0,
            timeout_s=10,
            what="the old run's spans to be removed",
        )
    finally:
        handle.stop()
    assert _verify_ok(db).startswith("OK")
