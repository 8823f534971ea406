"""A sidecar file that remembers the last committed link of the hash chain.

DuckDB replays its write-ahead log at open; a damaged WAL header makes it skip
the log silently, losing commits that were acknowledged. After every commit
the writer records the chain's head (sequence number, hash, and an HMAC of
both under the chain key) in ``<db>.head``, synced to disk. Before opening the
file read-write, the collector opens it read-only and refuses to start when:

- the chain ends before the recorded head (commits lost, or rows cut off);
- the head is missing although the chain has rows (the file was deleted);
- the head's HMAC is wrong (the file was rewritten without the key);
- the chain's link at the recorded row differs from the recorded hash (the
  chain was rewritten up to there).

The files are left untouched for a person to look at; after checking,
``agent-audit verify --db FILE --acknowledge-head`` records the database's
current head again and the collector starts. A head written before heads were
keyed (two fields) is accepted once and replaced at the next commit.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

import duckdb

from collector.chain_key import ChainKey
from collector.errors import CollectorError

__all__ = ["CommitMark", "HeadMismatch", "LostCommits", "mark_path", "ACKNOWLEDGE_HINT"]

ACKNOWLEDGE_HINT = (
    "the collector refuses to append until an operator checks the trail and runs: "
    "agent-audit verify --db {db} --acknowledge-head"
)


class LostCommits(CollectorError, RuntimeError):
    """The database holds fewer committed spans than were acknowledged."""


class HeadMismatch(LostCommits):
    """The head file is missing, rewritten, or disagrees with the chain."""


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
    "record_chain",
)


def read_every_block(con: duckdb.DuckDBPyConnection, tables: set[str]) -> None:
    """Read each stored column once; raises duckdb.Error on a damaged block."""
    for table in _CHECKED_TABLES:
        if table in tables:
            con.execute(f"SELECT count(hash(COLUMNS(*))) FROM {table}").fetchall()


def _stored_head_seq(db_path: Path, *, full_read: bool) -> int:
    return _stored_head(db_path, full_read=full_read, at_seq=None)[0]


def _stored_head(
    db_path: Path, *, full_read: bool, at_seq: int | None
) -> tuple[int, bytes | None, str | None]:
    """The file's last chain row, the link hash at ``at_seq`` (None if absent), and the
    id of the key its chain is keyed with (None before keying)."""
    with duckdb.connect(
        str(db_path), read_only=True, config={"enable_external_access": False}
    ) as con:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if full_read:
            read_every_block(con, tables)
        if "span_chain" not in tables:
            return 0, None, None
        present = [
            table
            for table in ("span_chain", "chain_anchor", "chain_tombstones")
            if table in tables  # a file from before a migration may lack one
        ]
        parts = [f"coalesce((SELECT max(seq) FROM {table}), 0)" for table in present]
        row = con.execute(f"SELECT greatest({', '.join(parts)}, 0)").fetchone()
        last = int(row[0]) if row and row[0] is not None else 0
        digest = None
        if "chain_keying" in tables:
            keyed = con.execute("SELECT key_id FROM chain_keying LIMIT 1").fetchone()
            self_key_id = str(keyed[0]) if keyed else None
        else:
            self_key_id = None
        if at_seq is not None:
            union = " UNION ALL ".join(f"SELECT seq, hash FROM {table}" for table in present)
            found = con.execute(f"SELECT hash FROM ({union}) WHERE seq = ?", [at_seq]).fetchone()
            digest = bytes(found[0]) if found else None
        return last, digest, self_key_id


class CommitMark:
    """Reads the mark at start-up and rewrites it after each commit."""

    def __init__(self, db_path: Path, key: ChainKey | None = None) -> None:
        self.path = mark_path(db_path)
        self._key = key
        self._fd: int | None = None

    def _fields(self) -> list[str] | None:
        try:
            return self.path.read_text().split()
        except FileNotFoundError:
            return None

    def recorded_seq(self) -> int | None:
        fields = self._fields()
        if not fields:
            return None
        return int(fields[0]) if fields[0].isdigit() else None

    def _head_mac(self, seq: int, digest_hex: str) -> str | None:
        if self._key is None:
            return None
        return self._key.mac(f"agent-audit head {seq} {digest_hex}".encode()).hex()

    def check(self, db_path: Path, *, full_read: bool = True) -> None:
        """Read the file once (read-only); raise LostCommits / HeadMismatch (see above).

        duckdb.Error escapes when the file cannot be read (damaged, locked).
        """
        fields = self._fields()
        recorded = self.recorded_seq()
        hint = ACKNOWLEDGE_HINT.format(db=db_path)
        stored, at_head, key_id = 0, None, None
        if db_path.exists():
            stored, at_head, key_id = _stored_head(db_path, full_read=full_read, at_seq=recorded)
        if self._key is not None and key_id is not None and key_id != self._key.key_id:
            raise HeadMismatch(
                f"the chain key {self._key.path} (id {self._key.key_id}) is not the key "
                f"{db_path} was chained with (id {key_id}); point AGENT_AUDIT_CHAIN_KEY at it"
            )
        # A keyed record of row 0 is written before the first commit (see
        # ``create``): the chain then grew past it, which is how a head lags.
        keyed_start = recorded == 0 and fields is not None and len(fields) >= 3
        if fields is None or (not recorded and not keyed_start):
            if stored > 0:
                raise HeadMismatch(
                    f"{self.path} is missing (or empty) but {db_path} has chain rows up to "
                    f"{stored}: the head may have been deleted to hide an edit; {hint}"
                )
            return
        assert recorded is not None  # None (no number) took the branch above
        if len(fields) < 2 or not fields[0].isdigit():
            raise HeadMismatch(f"{self.path} is not a head record; {hint}")
        if len(fields) >= 3 and self._key is not None:
            expected = self._head_mac(recorded, fields[1])
            if expected is None or not hmac.compare_digest(expected, fields[2]):
                raise HeadMismatch(
                    f"{self.path} was rewritten: its HMAC does not match the chain key "
                    f"{self._key.path}; {hint}"
                )
        if not db_path.exists():
            raise LostCommits(
                f"{db_path} is missing but {self.path} records {recorded} committed spans; "
                f"restore the file, or delete {self.path} to start a new trail"
            )
        if stored < recorded:
            raise LostCommits(
                f"{db_path} ends at chain row {stored} but rows up to {recorded} were committed: "
                f"its .wal looks damaged or rows were cut off; the files were left untouched. "
                f"To accept the loss: agent-audit verify --db {db_path} --acknowledge-head"
            )
        if at_head is not None and at_head.hex() != fields[1]:
            raise HeadMismatch(
                f"chain row {recorded} of {db_path} is not the one {self.path} recorded: "
                f"the chain was rewritten; {hint}"
            )

    def line(self, seq: int, digest: bytes) -> str:
        """The head record for ``seq``/``digest``: ``seq hash [hmac]``."""
        digest_hex = digest.hex()
        mac = self._head_mac(seq, digest_hex)
        return f"{seq} {digest_hex}" + (f" {mac}" if mac else "")

    def record(self, seq: int, digest: bytes) -> None:
        """Durably note the head after a commit (one small write and fdatasync)."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        line = self.line(seq, digest) + "\n"
        os.pwrite(self._fd, line.encode().ljust(192), 0)
        os.fdatasync(self._fd)

    def create(self, seq: int, digest: bytes) -> None:
        """Before the first commit: write the head and make its name durable.

        Without it, a kill between the first commit and its head record would
        leave chain rows and no head, which start-up refuses as a deleted head.
        """
        if self._fields():
            return
        self.record(seq, digest)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
