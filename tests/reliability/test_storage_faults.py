"""Disk full, read-only file system, damaged files: never a false acknowledgement, never a
fresh empty file over the user's data."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx
import pytest

from bench.reliability.chaos import check_file
from bench.reliability.harness import (
    CollectorExited,
    CollectorProcess,
    GrpcSender,
    build_run_request,
)
from collector.chain import verify_chain
from collector.chain_key import key_next_to
from collector.store import RunStore, StoreOpenError
from tests.reliability.disk_faults import Prober, fill_file_system, small_tmpfs
from tests.support import wait_until


def _storage_trouble_then_recovery(
    tmp_path: Path, trouble: Callable[[Path], Callable[[], None]]
) -> None:
    """Start on a tiny tmpfs, cause ``trouble`` (returns its undo), check, undo, check."""
    with small_tmpfs(tmp_path / "mnt", 8) as mnt:
        db = mnt / "audit.duckdb"
        collector = CollectorProcess(db, log_dir=tmp_path / "logs").start()
        prober = Prober(collector)
        try:
            for _ in range(3):
                assert prober.fresh(1000)[1].acked
            undo = trouble(mnt)
            # While storage is broken, nothing may be acknowledged that is not stored:
            # keep writing until refusals come, then a few more.
            refusals = 0
            for _ in range(200):
                _, outcome = prober.fresh(20_000)
                assert outcome.kind in ("ok", "retryable"), outcome
                refusals += outcome.kind == "retryable"
                if refusals >= 5:
                    break
            assert refusals >= 5, "storage trouble never made the collector refuse"
            undo()
            # Ingest resumes: the refused requests go through once space is back.
            wait_until(prober.resend_refused, timeout_s=30, interval_s=0.3, what="ingest to resume")
            for _ in range(3):
                assert prober.fresh(1000)[1].acked
            assert collector.terminate() == 0, collector.stderr_text()[-3000:]
        finally:
            prober.close()
            collector.kill()
        assert set(prober.answers) <= {"ok", "retryable"}, prober.answers
        assert check_file(db, prober.attempted, prober.acked) == []
        assert set(prober.acked) == set(prober.attempted)


def test_disk_full_answers_retryable_and_resumes_when_space_returns(tmp_path: Path) -> None:
    def fill(mnt: Path) -> Callable[[], None]:
        filler = fill_file_system(mnt)
        return filler.unlink

    _storage_trouble_then_recovery(tmp_path, fill)


def test_a_read_only_file_system_is_a_clear_start_up_error(tmp_path: Path) -> None:
    # Linux refuses `mount -o remount,ro` while the collector holds the file open for
    # writing (EBUSY), so a file system turning read-only under a running collector can
    # only come from disk errors; the live write failure path is the disk-full test's.
    # Here: a file system that is read-only when the collector starts.
    with small_tmpfs(tmp_path / "mnt", 8) as mnt:
        db = mnt / "audit.duckdb"
        first = CollectorProcess(db, log_dir=tmp_path / "logs").start()
        sender = GrpcSender(first.grpc_target)
        try:
            assert sender.send(build_run_request(8, 1, 3).protobuf()).acked
        finally:
            sender.close()
        assert first.terminate() == 0
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        before = _snapshot(db)
        second = CollectorProcess(db, log_dir=tmp_path / "logs")
        try:
            second.start()
        except CollectorExited:
            pass
        else:
            # Started: then it must not acknowledge what it cannot store.
            probe = GrpcSender(second.grpc_target)
            try:
                outcome = probe.send(build_run_request(8, 2, 3).protobuf())
            finally:
                probe.close()
                second.kill()
            pytest.fail(f"started on a read-only file system; a write was answered {outcome}")
        assert second.proc is not None and second.proc.returncode == 2
        assert "Read-only file system" in second.stderr_text() or "read-only" in (
            second.stderr_text().lower()
        )
        assert "Traceback" not in second.stderr_text()
        assert _snapshot(db) == before


# --- damaged files ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def crashed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpointed file plus committed runs in its WAL (the second life was killed)."""
    workdir = tmp_path_factory.mktemp("crashed")
    db = workdir / "crashed.duckdb"
    for life in (1, 2):
        collector = CollectorProcess(db, log_dir=workdir / "logs").start()
        sender = GrpcSender(collector.grpc_target)
        try:
            for seq in range(20):
                request = build_run_request(life, seq, 6, payload_bytes=500)
                assert sender.send(request.protobuf()).acked
        finally:
            sender.close()
        if life == 1:
            assert collector.terminate() == 0  # checkpoint: the first 20 runs go to the file
        else:
            # Acknowledged runs may still be only in the request journal: wait until
            # DuckDB committed them (into its WAL), then kill.
            health = f"{collector.api_url}/healthz"
            wait_until(
                lambda: httpx.get(health).json()["queued_spans"] == 0,  # noqa: B023 - waited here
                timeout_s=60,
                what="the acknowledged runs committed",
            )
            collector.kill()
    wal = db.with_name(db.name + ".wal")
    assert wal.exists() and wal.stat().st_size > 4096, "expected a WAL left by the kill"
    return db


def _copy_pair(source: Path, target_dir: Path) -> Path:
    """Copy the file and its companions (.wal, .head) as the collector left them."""
    target_dir.mkdir()
    for path in source.parent.iterdir():
        if path.is_file() and path.name.startswith(source.name):
            shutil.copy2(path, target_dir / path.name)
    return target_dir / source.name


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _snapshot(db: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(db.parent.iterdir()) if p.is_file()}


def _refuses_and_leaves_files_alone(db: Path, tmp_path: Path) -> str:
    before = _snapshot(db)
    collector = CollectorProcess(db, log_dir=tmp_path / "logs")
    try:
        collector.start()
    except CollectorExited:
        pass
    else:
        collector.kill()  # at once: a clean stop would checkpoint over the evidence
        pytest.fail(f"the collector started on a damaged file:\n{collector.stderr_text()[-2000:]}")
    err = collector.stderr_text()
    assert collector.proc is not None and collector.proc.returncode == 2, err
    assert "Traceback" not in err
    assert _snapshot(db) == before, "the collector changed or replaced the damaged files"
    return err


def test_the_crashed_file_itself_recovers(crashed_db: Path, tmp_path: Path) -> None:
    # The control for the damage tests below: undamaged, the same file opens with all runs.
    copy = _copy_pair(crashed_db, tmp_path / "intact")
    with duckdb.connect(str(copy), read_only=True) as con:
        runs = con.execute("SELECT count(*) FROM agent_runs").fetchone()
        assert verify_chain(con, key=key_next_to(copy)).ok
    assert runs == (40,)


# DuckDB's layout: three 4 KiB headers, then 256 KiB blocks (block id n at 12288 + n*256 KiB).
_HEADERS = 3 * 4096
_BLOCK = 256 * 1024


def test_flipped_byte_in_a_spans_data_block_refuses_to_start(
    crashed_db: Path, tmp_path: Path
) -> None:
    # A block the start-up path does not read: the damage must still be found before the
    # collector accepts new data onto a trail it cannot read back (today it starts, and
    # the damage surfaces later as a FATAL error in the shutdown checkpoint).
    copy = _copy_pair(crashed_db, tmp_path / "block-damage")
    with duckdb.connect(str(copy), read_only=True) as con:
        block = con.execute(
            "SELECT block_id, block_offset FROM pragma_storage_info('spans') "
            "WHERE persistent AND block_id >= 0 AND column_name = 'attributes' LIMIT 1"
        ).fetchone()
    assert block is not None, "the fixture should have checkpointed spans"
    _flip(copy, _HEADERS + block[0] * _BLOCK + block[1] + 64)
    err = _refuses_and_leaves_files_alone(copy, tmp_path)
    assert "damaged" in err or "Corrupt" in err, err


@pytest.mark.parametrize(
    "where",
    [0, 0.5],  # the WAL's header; inside an entry (caught by its checksum)
    ids=["wal-header", "wal-entry"],
)
def test_flipped_byte_in_the_wal_refuses_to_start(
    crashed_db: Path, tmp_path: Path, where: float
) -> None:
    copy = _copy_pair(crashed_db, tmp_path / "wal-damage")
    wal = copy.with_name(copy.name + ".wal")
    _flip(wal, int(wal.stat().st_size * where))
    err = _refuses_and_leaves_files_alone(copy, tmp_path)
    assert "damaged" in err or "cannot open" in err, err


def test_no_flipped_byte_in_the_wal_silently_drops_committed_runs(
    crashed_db: Path, tmp_path: Path
) -> None:
    # DuckDB takes some damage (a WAL header, an entry's length) for a torn tail and
    # opens without the commits that follow; the collector then checkpoints and the WAL
    # with the acknowledged runs is gone. Sweep offsets through the store directly
    # (fast): each must refuse to open, or open with every committed run.
    wal_size = crashed_db.with_name(crashed_db.name + ".wal").stat().st_size
    silent: list[str] = []
    for number, offset in enumerate([0, 1, *range(97, wal_size, wal_size // 23)]):
        copy = _copy_pair(crashed_db, tmp_path / f"sweep-{number}")
        _flip(copy.with_name(copy.name + ".wal"), offset)
        try:
            store = RunStore(copy)
        except StoreOpenError:
            continue
        try:
            runs = store.read(lambda cur: cur.execute("SELECT count(*) FROM agent_runs").fetchone())
        finally:
            store.close()
        if runs != (40,):
            silent.append(f"offset {offset}: opened with {runs[0] if runs else 0} of 40 runs")
    assert silent == []


@pytest.mark.parametrize(
    "offset",
    [8, 4096 + 16, 8192 + 16],  # the "DUCK" magic; each of the two database headers
    ids=["magic", "header-1", "header-2"],
)
def test_flipped_byte_in_the_file_header_refuses_to_start(
    crashed_db: Path, tmp_path: Path, offset: int
) -> None:
    copy = _copy_pair(crashed_db, tmp_path / "file-damage")
    _flip(copy, offset)
    err = _refuses_and_leaves_files_alone(copy, tmp_path)
    assert "cannot open" in err or "damaged" in err, err


def test_a_file_that_is_not_duckdb_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "notes.duckdb"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    err = _refuses_and_leaves_files_alone(db, tmp_path)
    assert str(db) in err


def test_an_unwritable_directory_is_a_clear_start_up_error(tmp_path: Path) -> None:
    # No collector without a place to write: exit 2 naming the path, not a traceback.
    collector = CollectorProcess(tmp_path / "missing" / "audit.duckdb", log_dir=tmp_path / "logs")
    with pytest.raises(CollectorExited):
        collector.start()
    assert collector.proc is not None and collector.proc.returncode == 2
    assert "does not exist" in collector.stderr_text()
    assert "Traceback" not in collector.stderr_text()
