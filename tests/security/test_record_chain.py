"""Cancel requests and retention passes are chained: an edit or deletion is found and named."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import duckdb
import httpx
import pytest

import instrumentation
from collector.record_chain import CANCEL_COLUMNS, content_of
from collector.verify import verify_file
from instrumentation import agent_run
from tests.collector.ingest.otlp import export, record_spans
from tests.collector.ingest.test_ingest import crash_investigation
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import run_cli, wait_until


def _cancel_a_running_run(handle: CollectorHandle, reason: str) -> str:
    """A real agent run, open, cancelled through the REST API; the run then ends."""
    instrumentation.configure(
        endpoint=handle.grpc_endpoint,
        api_url=handle.api_url,
        cancel_poll_s=None,
        schedule_delay_ms=50,
    )
    try:
        with agent_run("restart the web tier") as run:
            wait_until(
                lambda: (
                    handle.query("SELECT status FROM agent_runs WHERE id = ?", [run.id])
                    == [("running",)]
                ),
                timeout_s=20,
                what="the run to show as running",
            )
            answer = httpx.post(
                f"{handle.api_url}/agent/runs/{run.id}/cancel",
                json={"requested_by": "alice", "reason": reason},
                timeout=10,
            )
            assert answer.status_code == 202, answer.text
            run_id = run.id
    finally:
        assert instrumentation.shutdown(timeout_s=10)
    wait_until(
        lambda: (
            handle.query("SELECT status FROM agent_runs WHERE id = ?", [run_id]) != [("running",)]
        ),
        timeout_s=20,
        what="the run to end",
    )
    return run_id


@pytest.fixture
def cancelled(tmp_path: Path) -> tuple[Path, str]:
    """A stopped collector's trail holding one cancel request (run id returned)."""
    db = tmp_path / "cancel.duckdb"
    handle = start_test_collector(db)
    try:
        run_id = _cancel_a_running_run(handle, "wrong host")
    finally:
        handle.stop()
    return db, run_id


def _verify(db: Path) -> tuple[int, str]:
    done = run_cli("verify", "--db", str(db))
    return done.returncode, done.stdout + done.stderr


def test_an_untouched_cancel_request_verifies(cancelled: tuple[Path, str]) -> None:
    db, _ = cancelled
    code, out = _verify(db)
    assert code == 0, out
    assert "1 cancel request and retention record(s) verified" in out


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            "UPDATE cancel_requests SET reason = 'routine maintenance'",
            "was altered: reason 'wrong host' → 'routine maintenance'",
        ),
        (
            "UPDATE cancel_requests SET requested_by = 'mallory', "
            "requested_at = requested_at + INTERVAL 1 HOUR",
            "requested_by 'alice' → 'mallory'",
        ),
        ("DELETE FROM cancel_requests", "was deleted (it held"),
        (
            "INSERT INTO cancel_requests VALUES ('made-up-run', now()::TIMESTAMP, 'x', 'y')",
            "cancel request of run made-up-run is not in the record chain",
        ),
    ],
    ids=["reason", "who-and-when", "deleted", "inserted"],
)
def test_an_edited_or_deleted_cancel_request_is_named(
    cancelled: tuple[Path, str], edit: str, expected: str
) -> None:
    db, run_id = cancelled
    with duckdb.connect(str(db)) as con:
        con.execute(edit)
    code, out = _verify(db)
    assert code == 1, out
    assert "TAMPERED" in out and expected in out, out
    if "made-up" not in expected:
        assert run_id in out, out


def test_a_relinked_record_chain_without_the_key_is_found(cancelled: tuple[Path, str]) -> None:
    """Editing the row and its link's content, then relinking with sha256, breaks the HMAC."""
    db, run_id = cancelled
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE cancel_requests SET reason = 'scheduled'")
        row = con.execute(f"SELECT {', '.join(CANCEL_COLUMNS)} FROM cancel_requests").fetchone()
        content = content_of(CANCEL_COLUMNS, row)
        data = b"\0" * 32 + "\x1f".join(("cancel_request", run_id, content)).encode()
        forged = hmac.new(b"guessed key", data, hashlib.sha256).digest()
        con.execute("UPDATE record_chain SET content = ?, hash = ?", [content, forged])
    code, out = _verify(db)
    assert code == 1 and f"record chain row 1 (cancel request of {run_id}) was altered" in out


def test_a_deleted_record_link_is_found(cancelled: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = cancelled
    # A second event after the first, so deleting the first leaves a gap.
    handle = start_test_collector(db)
    try:
        second = _cancel_a_running_run(handle, "again")
    finally:
        handle.stop()
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM record_chain WHERE seq = 1")
        con.execute("DELETE FROM cancel_requests WHERE run_id = ?", [run_id])
    code, out = _verify(db)
    assert code == 1 and "record chain row 1 is missing" in out, out
    assert second != run_id


def _relink(con: duckdb.DuckDBPyConnection) -> None:
    """What the key holder could do, as a worst case: renumber and relink what is left."""
    from collector.chain_key import load_key
    from collector.record_chain import _link

    path = Path(con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchone()[0])
    key = load_key(path.with_name(path.name + ".key"), create=False)
    rows = con.execute("SELECT kind, record_key, content FROM record_chain ORDER BY seq").fetchall()
    con.execute("DELETE FROM record_chain")
    previous = b"\0" * 32
    for seq, (kind, record_key, content) in enumerate(rows, start=1):
        previous = _link(previous, kind, record_key, content, key)
        con.execute(
            "INSERT INTO record_chain VALUES (?, ?, ?, ?, ?)",
            [seq, kind, record_key, content, previous],
        )


@pytest.fixture
def retained(tmp_path: Path) -> Path:
    """A trail on which retention removed an old cancelled run and old spans."""
    db = tmp_path / "retained.duckdb"
    handle = start_test_collector(db, retention_days=1.5 / 86400)  # 1.5 seconds
    try:
        _cancel_a_running_run(handle, "stale")
        export("grpc", handle, record_spans(lambda t: crash_investigation(t, "old")))
        wait_until(
            lambda: (
                handle.query("SELECT count(*) FROM spans")[0][0] == 0
                and handle.query("SELECT count(*) FROM cancel_requests")[0][0] == 0
            ),
            timeout_s=30,
            what="retention to remove the old run, its cancel request and spans",
        )
    finally:
        handle.stop()
    return db


def test_retention_keeps_the_records_verifiable(retained: Path) -> None:
    report = verify_file(retained)
    assert report["ok"], report
    with duckdb.connect(str(retained), read_only=True) as con:
        kinds = [k for (k,) in con.execute("SELECT kind FROM record_chain ORDER BY seq").fetchall()]
    assert kinds[0] == "cancel_request" and "cancel_removed" in kinds and "retention" in kinds
    assert report["checked_records"] == len(kinds)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("UPDATE retention_log SET spans_deleted = spans_deleted + 7", "spans_deleted"),
        ("UPDATE retention_log SET cutoff = cutoff - INTERVAL 30 DAY", "cutoff"),
        ("DELETE FROM retention_log", "was deleted"),
    ],
    ids=["count", "cutoff", "deleted"],
)
def test_an_edited_or_deleted_retention_pass_is_named(
    retained: Path, edit: str, expected: str
) -> None:
    with duckdb.connect(str(retained)) as con:
        con.execute(edit)
    code, out = _verify(retained)
    assert code == 1, out
    assert "TAMPERED: the retention pass that ran at" in out and expected in out, out


def test_a_retention_pass_deleted_with_its_links_is_still_found(retained: Path) -> None:
    """Removing the passes and their links (renumbered) leaves the chain's anchor or
    tombstones behind, which only a recorded pass may explain."""
    with duckdb.connect(str(retained)) as con:
        con.execute("DELETE FROM retention_log")
        con.execute("DELETE FROM record_chain WHERE kind = 'retention'")
        _relink(con)
    code, out = _verify(retained)
    assert code == 1, out
    assert "retention pass" in out and "deleted" in out, out


def _write_span_only_head(db: Path) -> None:
    """The head as collectors wrote it before it pinned the record chain: span tip, HMAC."""
    from collector.chain_key import load_key

    head = db.with_name(db.name + ".head")
    seq, digest = head.read_text().split()[:2]
    key = load_key(db.with_name(db.name + ".key"), create=False)
    mac = key.mac(f"agent-audit head {seq} {digest}".encode()).hex()
    head.write_text(f"{seq} {digest} {mac}\n")


def test_rows_of_an_older_schema_are_chained_once_at_the_upgrade(
    cancelled: tuple[Path, str],
) -> None:
    """A file from before the record chain gets its rows linked at the start that upgrades it."""
    db, run_id = cancelled
    with duckdb.connect(str(db)) as con:
        # Version 6: no record chain, nor anything later.
        con.execute("DROP TABLE record_chain")
        con.execute("DROP INDEX agent_runs_trace_id")
        con.execute("DROP TABLE trace_arrivals")
        con.execute("DELETE FROM schema_version WHERE version >= 7")
    _write_span_only_head(db)  # as a collector of that schema wrote it
    start_test_collector(db).stop()
    report = verify_file(db)
    assert report["ok"] and report["checked_records"] == 1, report
    # A later start links nothing it did not write: a row slipped in now is found.
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO cancel_requests VALUES ('late', now()::TIMESTAMP, 'x', 'y')")
    start_test_collector(db).stop()
    report = verify_file(db)
    assert not report["ok"] and "late" in json.dumps(report["problem"]), report
    assert run_id
