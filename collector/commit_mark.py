"""A sidecar file that remembers the last committed link of the hash chain.

DuckDB replays its write-ahead log at open; a damaged WAL header makes it skip
the log silently, losing commits that were acknowledged. After every commit
the writer records the chain's head (sequence number and hash) in
``<db>.head``, synced to disk. Before opening the file read-write, the
collector opens it read-only and refuses to start if the chain ends before
the recorded head: the file is left untouched for a person to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from collector.errors import CollectorError

__all__ = ["CommitMark", "LostCommits", "mark_path"]


class LostCommits(CollectorError, RuntimeError):
    """The database holds fewer committed spans than were acknowledged."""


def mark_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".head")


# Read at start-up, every column of every table: DuckDB checks each block's
# checksum as it reads, so a damaged block stops the start instead of surfacing
# later (a failed checkpoint at shutdown, a query that cannot be answered).
_CHECKED_TABLES = (
    "spans",
    "span_chain",
    "chain_tombstones",
    "chain_anchor",
    "agent_runs",
    "agent_steps",
    "cancel_requests",
    "retention_log",
)


def read_every_block(con: duckdb.DuckDBPyConnection, tables: set[str]) -> None:
    """Read each stored column once; raises duckdb.Error on a damaged block."""
    for table in _CHECKED_TABLES:
        if table in tables:
            con.execute(f"SELECT count(hash(COLUMNS(*))) FROM {table}").fetchall()


def _stored_head_seq(db_path: Path, *, full_read: bool) -> int:
    with duckdb.connect(
        str(db_path), read_only=True, config={"enable_external_access": False}
    ) as con:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if full_read:
            read_every_block(con, tables)
        if "span_chain" not in tables:
            return 0
        parts = [
            f"coalesce((SELECT max(seq) FROM {table}), 0)"
            for table in ("span_chain", "chain_anchor", "chain_tombstones")
            if table in tables  # a file from before a migration may lack one
        ]
        row = con.execute(f"SELECT greatest({', '.join(parts)}, 0)").fetchone()
        return int(row[0]) if row and row[0] is not None else 0


class CommitMark:
    """Reads the mark at start-up and rewrites it after each commit."""

    def __init__(self, db_path: Path) -> None:
        self.path = mark_path(db_path)
        self._fd: int | None = None

    def recorded_seq(self) -> int | None:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return None
        seq, _, _ = text.partition(" ")
        return int(seq) if seq.isdigit() else None

    def check(self, db_path: Path, *, full_read: bool = True) -> None:
        """Read the file once (read-only); raise LostCommits if it ends before the head.

        duckdb.Error escapes when the file cannot be read (damaged, locked).
        """
        recorded = self.recorded_seq()
        if db_path.exists() and (full_read or recorded):
            stored = _stored_head_seq(db_path, full_read=full_read)
        if not recorded:
            return
        if not db_path.exists():
            raise LostCommits(
                f"{db_path} is missing but {self.path} records {recorded} committed spans; "
                f"restore the file, or delete {self.path} to start a new trail"
            )
        if stored < recorded:
            raise LostCommits(
                f"{db_path} ends at chain row {stored} but rows up to {recorded} were committed: "
                f"its .wal looks damaged; the files were left untouched. To accept the loss and "
                f"start anyway, delete {self.path}"
            )

    def record(self, seq: int, digest: bytes) -> None:
        """Durably note the head after a commit (one small write and fdatasync)."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        line = f"{seq} {digest.hex()}\n".encode()
        os.pwrite(self._fd, line.ljust(96), 0)
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
