"""Tamper evidence against someone with file access: keyed links, a checked head."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from collector.chain import CONTENT_COLUMNS, canonical
from collector.store import StoreOpenError
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import run_cli


def _spans(count: int) -> list:
    def build(tracer):  # type: ignore[no-untyped-def]
        for index in range(count):
            tracer.start_span(f"step {index}", attributes={"n": index}).end()

    return record_spans(build)


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """A stopped collector's files: db, .wal (maybe), .head and .key, with 6 spans."""
    db = tmp_path / "trail.duckdb"
    handle = start_test_collector(db)
    try:
        export("http-protobuf", handle, _spans(6))
    finally:
        handle.stop()
    return db


def key_of(db: Path) -> Path:
    return db.with_name(db.name + ".key")


def head_of(db: Path) -> Path:
    return db.with_name(db.name + ".head")


def start(db: Path) -> CollectorHandle:
    return start_test_collector(db)


def test_the_key_is_created_private_next_to_the_database(trail: Path) -> None:
    key = key_of(trail)
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    with duckdb.connect(str(trail), read_only=True) as con:
        assert key.read_text().strip() not in str(con.execute("FROM chain_keying").fetchall())


def test_a_configured_key_path_is_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "secrets" / "chain.key"
    handle = start_test_collector(tmp_path / "a.duckdb", chain_key_path=elsewhere)
    handle.stop()
    assert elsewhere.exists() and not key_of(tmp_path / "a.duckdb").exists()


def _recompute_plain_chain(db: Path, edit_sql: str) -> None:
    """What an attacker without the key does: edit a span, relink the chain with sha256."""
    with duckdb.connect(str(db)) as con:
        con.execute(edit_sql)
        columns = ", ".join(f"s.{c}" for c in CONTENT_COLUMNS)
        rows = con.execute(
            f"SELECT c.seq, {columns} FROM span_chain c JOIN spans s USING (trace_id, span_id) "
            "ORDER BY c.seq"
        ).fetchall()
        previous = b"\0" * 32
        for seq, *content in rows:
            previous = hashlib.sha256(previous + canonical(content)).digest()
            con.execute("UPDATE span_chain SET hash = ? WHERE seq = ?", [previous, seq])


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE spans SET name = 'nothing happened' WHERE name = 'step 2'",
        "UPDATE spans SET attributes = '{\"n\": 99}' WHERE name = 'step 4'",
        "UPDATE spans SET status_code = 0 WHERE name = 'step 0'",
    ],
)
def test_an_edit_with_a_recomputed_unkeyed_chain_is_found(trail: Path, edit: str) -> None:
    _recompute_plain_chain(trail, edit)
    done = run_cli("verify", "--db", str(trail))
    assert done.returncode == 1, done.stdout
    assert "TAMPERED" in done.stdout and "chain row" in done.stdout


def test_a_deleted_head_stops_the_collector_until_acknowledged(trail: Path) -> None:
    head_of(trail).unlink()
    with pytest.raises(StoreOpenError, match="acknowledge-head"):
        start(trail)
    done = run_cli("verify", "--db", str(trail), "--acknowledge-head")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "acknowledged" in done.stdout
    start(trail).stop()


@pytest.mark.parametrize(
    "rewrite",
    [
        # fields: span seq, span hash, record seq, record hash, HMAC of all four
        lambda f: f"{f[0]} {f[1]}",  # the HMAC dropped (and the record tip): the old format
        lambda f: f"{f[0]} {f[1]} {f[2]} {f[3]}",  # the HMAC dropped
        lambda f: f"{f[0]} {f[1]} {f[4]}",  # the record tip dropped, the HMAC kept
        lambda f: f"{int(f[0]) - 1} {f[1]} {f[2]} {f[3]} {f[4]}",  # moved back a row
        lambda f: f"{f[0]} {'0' * 64} {f[2]} {f[3]} {f[4]}",  # another hash
        lambda f: f"{f[0]} {f[1]} {f[2]} {'ff' * 32} {f[4]}",  # another record hash
        lambda f: f"{f[0]} {f[1]} {f[2]} {f[3]} {'ab' * 32}",  # a forged HMAC
    ],
    ids=[
        "no-mac-old-format",
        "no-mac",
        "no-record-tip",
        "older-row",
        "other-hash",
        "other-record-hash",
        "forged-mac",
    ],
)
def test_a_rewritten_head_stops_the_collector(trail: Path, rewrite) -> None:  # type: ignore[no-untyped-def]
    fields = head_of(trail).read_text().split()
    assert len(fields) == 5
    head_of(trail).write_text(rewrite(fields) + "\n")
    with pytest.raises(StoreOpenError, match="acknowledge-head"):
        start(trail)
    done = run_cli("verify", "--db", str(trail))
    assert done.returncode == 1 and "head" in done.stdout.lower()


def test_a_head_from_before_the_key_is_accepted_once(trail: Path) -> None:
    """A file chained before keys existed had a two-field head: it still starts, and
    its next head is keyed."""
    _recompute_plain_chain(trail, "SELECT 1")  # every link plain sha256, as then
    with duckdb.connect(str(trail)) as con:
        con.execute("DELETE FROM chain_keying")
        seq, digest = con.execute(
            "SELECT seq, hash FROM span_chain ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    key_of(trail).unlink()
    head_of(trail).write_text(f"{seq} {bytes(digest).hex()}\n")
    handle = start(trail)
    try:
        export("http-protobuf", handle, _spans(1))
    finally:
        handle.stop()
    fields = head_of(trail).read_text().split()
    assert len(fields) == 5 and int(fields[0]) == seq + 1, fields
    done = run_cli("verify", "--db", str(trail))
    assert done.returncode == 0, done.stdout + done.stderr


def test_cut_off_rows_stop_the_collector(trail: Path) -> None:
    with duckdb.connect(str(trail)) as con:
        last = con.execute("SELECT max(seq) FROM span_chain").fetchone()[0]
        con.execute(
            "DELETE FROM spans WHERE (trace_id, span_id) IN "
            "(SELECT (trace_id, span_id) FROM span_chain WHERE seq = ?)",
            [last],
        )
        con.execute("DELETE FROM span_chain WHERE seq = ?", [last])
    with pytest.raises(StoreOpenError, match="committed"):
        start(trail)


def test_a_readable_key_is_refused(trail: Path) -> None:
    os.chmod(key_of(trail), 0o644)
    with pytest.raises(StoreOpenError, match="readable by others"):
        start(trail)


def test_another_key_is_refused_and_verify_says_so(trail: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_text("11" * 32 + "\n")
    other.chmod(0o600)
    with pytest.raises(StoreOpenError, match="not the key"):
        start_test_collector(trail, chain_key_path=other)
    done = run_cli("verify", "--db", str(trail), "--key", str(other))
    assert done.returncode == 1 and "not the one" in done.stdout


def test_without_the_key_verify_says_what_it_could_not_check(trail: Path) -> None:
    moved = trail.with_name("elsewhere.key")
    shutil.move(key_of(trail), moved)
    done = run_cli("verify", "--db", str(trail))
    assert done.returncode == 1 and "give the chain key" in done.stdout


def test_a_lost_key_is_not_silently_replaced(trail: Path) -> None:
    key_of(trail).unlink()
    with pytest.raises(StoreOpenError, match="chain key is missing"):
        start(trail)
    assert not key_of(trail).exists()


def test_a_deleted_head_fails_verify(trail: Path) -> None:
    head_of(trail).unlink()
    done = run_cli("verify", "--db", str(trail))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "TAMPERED" in done.stdout and "head may have been deleted" in done.stdout


def test_a_relinked_chain_passed_off_as_never_keyed_is_found(trail: Path) -> None:
    """Deleting the keying record, relinking every span with sha256 and writing a head
    without an HMAC (as a file from before keys had) does not pass while the key exists."""
    _recompute_plain_chain(
        trail, "UPDATE spans SET name = 'nothing happened' WHERE name = 'step 2'"
    )
    with duckdb.connect(str(trail)) as con:
        con.execute("DELETE FROM chain_keying")
        seq, digest = con.execute(
            "SELECT seq, hash FROM span_chain ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    head_of(trail).write_text(f"{seq} {bytes(digest).hex()}\n")
    done = run_cli("verify", "--db", str(trail))
    assert done.returncode == 1 and "keying record may have been deleted" in done.stdout
    with pytest.raises(StoreOpenError, match="keying record"):
        start(trail)
