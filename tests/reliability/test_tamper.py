"""Tamper evidence: ``agent-audit verify`` names the first altered or missing row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from bench.reliability.harness import (
    CollectorExited,
    CollectorProcess,
    HttpSender,
    build_run_request,
)
from tests.conftest import start_test_collector
from tests.support import run_cli

RUNS = 12


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A stopped collector's file with 12 runs sent in 12 requests, and its verify report."""
    db = tmp_path_factory.mktemp("tamper") / "trail.duckdb"
    handle = start_test_collector(db)
    try:
        sender = HttpSender(handle.http_endpoint)
        try:
            for seq in range(RUNS):
                assert sender.send(build_run_request(95, seq, 3).protobuf()).acked
        finally:
            sender.close()
        live = httpx.get(handle.api_url + "/verify", timeout=60)
        assert live.status_code == 200
        assert live.json()["ok"] is True
    finally:
        handle.stop()
    code, report, text = _verify(db, human=True)
    assert code == 0, report
    assert text.startswith("OK")
    return db, report


def _verify(db: Path, *, human: bool = False) -> tuple[int, dict[str, Any], str]:
    """Run the real CLI: ``--json`` always, the human form too when asked."""
    done = run_cli("verify", "--db", str(db), "--json")
    text = ""
    if human:
        plain = run_cli("verify", "--db", str(db))
        assert plain.returncode == done.returncode, (plain.stdout, done.stdout)
        text = plain.stdout + plain.stderr
    return done.returncode, json.loads(done.stdout), text


def _copy(trail: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    copy = tmp_path / "copy.duckdb"
    shutil.copy2(trail[0], copy)
    # The chain key travels with the copy: verify needs it (an attacker would not have it).
    shutil.copy2(trail[0].with_name(trail[0].name + ".key"), copy.with_name(copy.name + ".key"))
    return copy


def _span_at(db: Path, seq: int) -> tuple[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT trace_id, span_id FROM span_chain WHERE seq = ?", [seq]
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def _edit(db: Path, sql: str, params: list[Any]) -> None:
    with duckdb.connect(str(db)) as con:
        changed = con.execute(sql, params).fetchall()
    assert changed, f"the edit changed nothing: {sql}"


def test_an_untouched_file_verifies(trail: tuple[Path, dict[str, Any]]) -> None:
    _, report = trail
    assert report["ok"] is True
    assert report["checked_spans"] == RUNS * 4
    assert report["problem"] is None
    assert len(report["head"]["hash"]) == 64


@pytest.mark.parametrize(
    "column",
    ["attributes", "name", "status_message", "end_ns", "events", "resource"],
)
def test_an_altered_span_is_named(
    trail: tuple[Path, dict[str, Any]], tmp_path: Path, column: str
) -> None:
    db = _copy(trail, tmp_path)
    trace_id, span_id = _span_at(db, 17)
    value = {
        "attributes": '{"gen_ai.tool.call.result":"nothing happened"}',
        "name": "execute_tool harmless",
        "status_message": "fine",
        "end_ns": 1,
        "events": '[{"name":"inserted later","time_ns":1,"attributes":{}}]',
        "resource": '{"service.name":"other"}',
    }[column]
    _edit(
        db,
        f"UPDATE spans SET {column} = ? WHERE trace_id = ? AND span_id = ? RETURNING 1",
        [value, trace_id, span_id],
    )
    code, report, text = _verify(db, human=column == "attributes")
    assert code == 1
    assert report["problem"]["kind"] == "altered"
    assert (report["problem"]["span_id"], report["problem"]["seq"]) == (span_id, 17)
    if text:
        assert span_id in text and "TAMPERED" in text


def test_a_deleted_span_is_named(trail: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    db = _copy(trail, tmp_path)
    trace_id, span_id = _span_at(db, 30)
    _edit(
        db,
        "DELETE FROM spans WHERE trace_id = ? AND span_id = ? RETURNING 1",
        [trace_id, span_id],
    )
    code, report, text = _verify(db, human=True)
    assert code == 1
    assert report["problem"]["kind"] == "missing"
    assert report["problem"]["span_id"] == span_id
    assert span_id in text


def test_the_first_of_two_problems_is_named(
    trail: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    db = _copy(trail, tmp_path)
    late = _span_at(db, 40)
    early = _span_at(db, 9)
    _edit(
        db,
        "UPDATE spans SET name = 'x' WHERE trace_id = ? AND span_id = ? RETURNING 1",
        list(late),
    )
    _edit(db, "DELETE FROM spans WHERE trace_id = ? AND span_id = ? RETURNING 1", list(early))
    code, report, _ = _verify(db)
    assert code == 1
    assert (report["problem"]["span_id"], report["problem"]["seq"]) == (early[1], 9)


def test_editing_the_chain_itself_is_caught(
    trail: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    db = _copy(trail, tmp_path)
    _edit(db, "DELETE FROM span_chain WHERE seq = 20 RETURNING 1", [])
    code, report, _ = _verify(db)
    assert code == 1
    assert report["problem"]["seq"] == 20


def test_a_span_added_behind_the_collectors_back_is_caught(
    trail: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    db = _copy(trail, tmp_path)
    _edit(
        db,
        "INSERT INTO spans SELECT * REPLACE ('ffffffffffffffff' AS span_id) FROM spans "
        "LIMIT 1 RETURNING 1",
        [],
    )
    code, report, _ = _verify(db)
    assert code == 1
    assert report["problem"]["span_id"] == "ffffffffffffffff"


def test_cutting_the_tail_is_caught_by_the_head(
    trail: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    # Removing the newest run whole (its spans, chain links, run and step rows) leaves
    # a consistent, shorter chain. What shows it: the head hash (printed by verify, to
    # keep elsewhere) and the collector's own commit mark (<db>.head), which must stop
    # it from starting on the shortened file.
    source = trail[0]
    copy = tmp_path / source.name
    for path in source.parent.iterdir():
        if path.is_file() and path.name.startswith(source.name):
            shutil.copy2(path, tmp_path / path.name)
    last_run = f"run-95-{RUNS - 1}"
    with duckdb.connect(str(copy)) as con:
        first_seq = con.execute(
            "SELECT min(c.seq) FROM span_chain c JOIN agent_runs r ON r.trace_id = c.trace_id "
            "WHERE r.id = ?",
            [last_run],
        ).fetchone()
        assert first_seq is not None and first_seq[0] == RUNS * 4 - 3
        con.execute(
            "DELETE FROM spans WHERE trace_id = (SELECT trace_id FROM agent_runs WHERE id = ?)",
            [last_run],
        )
        con.execute("DELETE FROM span_chain WHERE seq >= ?", [first_seq[0]])
        con.execute("DELETE FROM agent_steps WHERE agent_run_id = ?", [last_run])
        con.execute("DELETE FROM agent_runs WHERE id = ?", [last_run])
    _, report, _ = _verify(copy)
    assert report["head"]["hash"] != trail[1]["head"]["hash"]
    assert report["head"]["seq"] == RUNS * 4 - 4
    collector = CollectorProcess(copy, log_dir=tmp_path / "logs")
    try:
        collector.start()
    except CollectorExited:
        pass
    else:
        collector.kill()
        pytest.fail("the collector started on a trail cut behind its back")
    assert "left untouched" in collector.stderr_text()


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("agent_steps", "tool_result", "nothing to see"),
        ("agent_steps", "tool_args", '{"all": false}'),
        ("agent_runs", "final_answer", "all good"),
        ("agent_runs", "status", "failed"),
    ],
)
def test_an_altered_run_or_step_row_is_caught(
    trail: tuple[Path, dict[str, Any]], tmp_path: Path, table: str, column: str, value: str
) -> None:
    # Runs and steps are what the dashboard and the API show; editing them alone must
    # not pass verify (they are derived from the chained spans, so verify can re-derive
    # and compare).
    db = _copy(trail, tmp_path)
    key = "agent_run_id" if table == "agent_steps" else "id"
    _edit(
        db,
        f"UPDATE {table} SET {column} = ? WHERE {key} = 'run-95-3' "
        f"AND {column} IS DISTINCT FROM ? RETURNING 1",
        [value, value],
    )
    code, report, _ = _verify(db)
    assert code == 1, report
    assert report["problem"] is not None
