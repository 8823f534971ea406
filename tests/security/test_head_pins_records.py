"""The ``.head`` pins the record chain's tip too: the newest cancel request or retention
pass, deleted together with its link, leaves no gap in the chain, only the head shows it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from opentelemetry.sdk.trace import ReadableSpan

import instrumentation
from collector.chain_key import load_key
from collector.commit_mark import CommitMark
from collector.store import StoreOpenError
from collector.verify import verify_file
from instrumentation import agent_run
from tests.collector.ingest.otlp import export, record_spans
from tests.collector.ingest.test_ingest import crash_investigation
from tests.conftest import CollectorHandle, start_test_collector
from tests.security.test_record_chain import (
    _cancel_a_running_run,
    _write_span_only_head,
    cancelled,
)
from tests.support import run_cli, wait_until

__all__ = ["cancelled"]  # the fixture, shared with test_record_chain


def _head_fields(db: Path) -> list[str]:
    return db.with_name(db.name + ".head").read_text().split()


def _verify(db: Path) -> tuple[int, str]:
    done = run_cli("verify", "--db", str(db))
    return done.returncode, done.stdout + done.stderr


def _delete_newest_link(con: duckdb.DuckDBPyConnection, kind: str) -> str:
    """Delete the record chain's last link (of ``kind``); return its record key."""
    seq, found, record_key = con.execute(
        "SELECT seq, kind, record_key FROM record_chain ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    assert found == kind, found
    con.execute("DELETE FROM record_chain WHERE seq = ?", [seq])
    return str(record_key)


@pytest.fixture
def two_cancels(cancelled: tuple[Path, str]) -> tuple[Path, str]:
    """A trail with two cancel requests; the second (newest) run id is returned."""
    db, first = cancelled
    handle = start_test_collector(db)
    try:
        second = _cancel_a_running_run(handle, "still the wrong host")
    finally:
        handle.stop()
    assert second != first
    return db, second


def test_the_head_pins_both_chains(two_cancels: tuple[Path, str]) -> None:
    db, _ = two_cancels
    fields = _head_fields(db)
    assert len(fields) == 5, fields
    with duckdb.connect(str(db), read_only=True) as con:
        seq, digest = con.execute(
            "SELECT seq, hash FROM record_chain ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert (int(fields[2]), fields[3]) == (seq, bytes(digest).hex())
    report = verify_file(db)
    assert report["ok"] and report["record_head"] == {"seq": seq, "hash": fields[3]}, report


def test_the_newest_cancel_request_deleted_with_its_link_is_found(
    two_cancels: tuple[Path, str],
) -> None:
    db, newest = two_cancels
    with duckdb.connect(str(db)) as con:
        assert _delete_newest_link(con, "cancel_request") == newest
        con.execute("DELETE FROM cancel_requests WHERE run_id = ?", [newest])
    code, out = _verify(db)
    assert code == 1, out
    assert "TAMPERED" in out and "newest cancel request or retention pass" in out, out
    with pytest.raises(StoreOpenError, match="record chain"):
        start_test_collector(db)


def test_a_rewritten_record_tip_in_the_head_is_found(two_cancels: tuple[Path, str]) -> None:
    """Moving the head's record tip back a row (to match a deletion) breaks its HMAC."""
    db, _ = two_cancels
    head = db.with_name(db.name + ".head")
    seq, digest, record_seq, _, mac = _head_fields(db)
    with duckdb.connect(str(db), read_only=True) as con:
        (earlier,) = con.execute(
            "SELECT hash FROM record_chain WHERE seq = ?", [int(record_seq) - 1]
        ).fetchone()
    head.write_text(f"{seq} {digest} {int(record_seq) - 1} {bytes(earlier).hex()} {mac}\n")
    code, out = _verify(db)
    assert code == 1 and "was rewritten" in out, out
    with pytest.raises(StoreOpenError, match="HMAC"):
        start_test_collector(db)


def test_a_head_that_pins_only_the_span_chain_upgrades(cancelled: tuple[Path, str]) -> None:
    """A store whose head was written before heads pinned records starts, and its head
    then pins the record chain: a later deletion of the newest cancel is found."""
    db, run_id = cancelled
    seq, digest = _head_fields(db)[:2]
    _write_span_only_head(db)
    handle = start_test_collector(db)
    try:
        # Rewritten after the first commit of any kind (housekeeping commits within seconds).
        wait_until(lambda: len(_head_fields(db)) == 5, timeout_s=20, what="the head to upgrade")
    finally:
        handle.stop()
    assert _head_fields(db)[:4] == [seq, digest, "1", _head_fields(db)[3]]
    assert verify_file(db)["ok"]
    with duckdb.connect(str(db)) as con:
        assert _delete_newest_link(con, "cancel_request") == run_id
        con.execute("DELETE FROM cancel_requests")
    assert not verify_file(db)["ok"]


def _run_spans(run_id: str) -> list[ReadableSpan]:
    return record_spans(lambda t: crash_investigation(t, run_id))


def _export_and_wait_for_pass(
    handle: CollectorHandle, run_id: str, spans: list[ReadableSpan], passes: int
) -> None:
    export("grpc", handle, spans)
    wait_until(
        lambda: (
            handle.query("SELECT count(*) FROM retention_log")[0][0] == passes
            and not handle.query("SELECT 1 FROM agent_runs WHERE id = ?", [run_id])
        ),
        timeout_s=30,
        what=f"retention pass {passes} to remove run {run_id}",
    )


def test_the_newest_retention_pass_deleted_with_its_link_is_found(tmp_path: Path) -> None:
    """The subtle case: the pass removed spans behind a live run, so its tombstones were
    not folded into the anchor; retimed to the previous pass, they explain nothing away
    and without the head the deletion would go unnoticed."""
    db = tmp_path / "passes.duckdb"
    handle = start_test_collector(db, retention_days=1.5 / 86400)  # 1.5 seconds
    instrumentation.configure(
        endpoint=handle.grpc_endpoint, cancel_poll_s=None, schedule_delay_ms=50
    )
    try:
        _export_and_wait_for_pass(handle, "old-a", _run_spans("old-a"), passes=1)
        later = _run_spans("old-c")  # recorded here: inside the open run it would join its trace
        # A run that stays open keeps later tombstones from being folded into the anchor.
        with agent_run("watch the queue") as run:
            wait_until(
                lambda: (
                    handle.query("SELECT status FROM agent_runs WHERE id = ?", [run.id])
                    == [("running",)]
                ),
                timeout_s=20,
                what="the open run to show as running",
            )
            _export_and_wait_for_pass(handle, "old-c", later, passes=2)
            handle.stop()
    finally:
        instrumentation.shutdown(timeout_s=1)  # the collector is gone: nothing to flush to
        handle.stop()
    assert verify_file(db)["ok"]
    with duckdb.connect(str(db)) as con:
        (first, newest) = (
            r[0] for r in con.execute("SELECT ran_at FROM retention_log ORDER BY ran_at").fetchall()
        )
        _delete_newest_link(con, "retention")
        con.execute("DELETE FROM retention_log WHERE ran_at = ?", [newest])
        con.execute("UPDATE chain_tombstones SET removed_at = ?", [first])
    report = verify_file(db)
    assert not report["ok"], report
    assert report["problem"]["kind"] == "head", report
    assert "newest cancel request or retention pass" in report["problem"]["message"]


def test_the_head_line_of_a_file_is_the_one_the_collector_wrote(
    two_cancels: tuple[Path, str],
) -> None:
    """``line_of`` (what a backup's head is made with) pins both chains, like the writer."""
    db, _ = two_cancels
    key = load_key(db.with_name(db.name + ".key"), create=False)
    with duckdb.connect(str(db), read_only=True) as con:
        line = CommitMark(db, key).line_of(con)
    assert line.split() == _head_fields(db)
