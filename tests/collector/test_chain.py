"""Tamper evidence: verify names the first altered, removed or added row."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.collector.ingest.otlp import export, record_spans
from tests.collector.ingest.test_ingest import crash_investigation
from tests.conftest import start_test_collector
from tests.support import run_cli


def _filled(tmp_path: Path, runs: int = 3) -> Path:
    db = tmp_path / "chain.duckdb"
    handle = start_test_collector(db)
    try:
        for i in range(runs):
            export("grpc", handle, record_spans(lambda t, i=i: crash_investigation(t, f"r{i}")))
        export("grpc", handle, record_spans(lambda t: crash_investigation(t, "r0")))  # new spans
        assert handle.query("SELECT count(*) FROM span_chain")[0][0] == (runs + 1) * 5
    finally:
        handle.stop()
    return db


def verify(db: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("verify", "--db", str(db))


def test_untouched_file_verifies(tmp_path: Path) -> None:
    result = verify(_filled(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 20 span(s) verified" in result.stdout


def _nth_span(db: Path, seq: int) -> tuple[str, str]:
    with duckdb.connect(str(db)) as con:
        row = con.execute(
            "SELECT trace_id, span_id FROM span_chain WHERE seq = ?", [seq]
        ).fetchone()
    assert row
    return row[0], row[1]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE spans SET name = 'innocent' WHERE trace_id = ? AND span_id = ?", "was altered"),
        ("UPDATE spans SET attributes = '{}' WHERE trace_id = ? AND span_id = ?", "was altered"),
        ("DELETE FROM spans WHERE trace_id = ? AND span_id = ?", "was removed"),
    ],
)
def test_altered_or_removed_span_is_named(tmp_path: Path, sql: str, expected: str) -> None:
    db = _filled(tmp_path)
    trace_id, span_id = _nth_span(db, 7)
    with duckdb.connect(str(db)) as con:
        con.execute(sql, [trace_id, span_id])
    result = verify(db)
    assert result.returncode == 1
    assert f"span {trace_id}/{span_id} (chain row 7) {expected}" in result.stdout


def test_removed_chain_row_and_added_span_are_found(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM span_chain WHERE seq = 4")
    assert "chain row 4 is missing" in verify(db).stdout

    (tmp_path / "b").mkdir()
    db2 = _filled(tmp_path / "b")
    with duckdb.connect(str(db2)) as con:
        con.execute(
            "INSERT INTO spans SELECT * REPLACE ('0123456789abcdef' AS span_id) FROM spans LIMIT 1"
        )
    out = verify(db2).stdout
    assert "not in the chain" in out


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "UPDATE agent_steps SET tool_result = 'nothing to see' WHERE tool_name = 'docker_logs'"
            " AND agent_run_id = 'r1'",
            "step {step} was altered",
        ),
        ("UPDATE agent_runs SET status = 'completed', error = NULL WHERE id = 'r2'", None),
        ("UPDATE agent_runs SET final_answer = 'all fine' WHERE id = 'r2'", "run r2 was altered"),
        ("DELETE FROM agent_runs WHERE id = 'r1'", "run r1 was removed"),
        (
            "INSERT INTO agent_runs (id, status, updated_at, trace_id) "
            "SELECT 'fake', 'completed', now(), trace_id FROM agent_runs LIMIT 1",
            "run fake does not come from any stored span",
        ),
    ],
)
def test_edits_to_runs_and_steps_are_caught(tmp_path: Path, sql: str, expected: str | None) -> None:
    db = _filled(tmp_path)
    with duckdb.connect(str(db)) as con:
        step = con.execute(
            "SELECT id FROM agent_steps WHERE agent_run_id = 'r1' AND tool_name = 'docker_logs'"
        ).fetchone()
        con.execute(sql)
    result = verify(db)
    if expected is None:  # r2 was already completed: the edit changed nothing
        assert result.returncode == 0, result.stdout
        return
    assert result.returncode == 1, result.stdout
    assert "OK: 20 span(s) verified" not in result.stdout  # one report: the problem
    assert expected.format(step=step[0] if step else "") in result.stdout
