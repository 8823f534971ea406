"""A sidecar file that remembers the last committed links of both hash chains.

DuckDB replays its write-ahead log at open; a damaged WAL header makes it skip
the log silently, losing commits that were acknowledged. And the newest link of
a chain has no later link to betray its removal. So after every commit the
writer records both tips, the span chain's and the record chain's (sequence
number and hash of each, and an HMAC of all four under the chain key), in
``<db>.head``, synced to disk. Before opening the file read-write, the collector
opens it read-only and refuses to start when:

- either chain ends before its recorded tip (commits lost, rows cut off, or the
  newest cancel request or retention pass deleted with its link);
- the head is missing although the chains have rows (the file was deleted);
- the head's HMAC is wrong, or missing on a keyed chain (rewritten without the key);
- a chain's link at the recorded row differs from the recorded hash (the chain
  was rewritten up to there).

The files are left untouched for a person to look at; after checking,
``agent-audit verify --db FILE --acknowledge-head`` records the database's
current tips again and the collector starts. Older heads: one that pins the
span chain only (three fields, keyed) is accepted and replaced at the next
commit; one without an HMAC (two fields) only if it predates the chain's key.
"""

from __future__ import annotations

import hmac
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from collector.chain import load_head
from collector.chain_key import ChainKey
from collector.errors import CollectorError
from collector.record_chain import appends_so_far, load_record_tip

__all__ = [
    "ACKNOWLEDGE_HINT",
    "CommitMark",
    "HeadMismatch",
    "HeadRecord",
    "LostCommits",
    "mark_path",
]

logger = logging.getLogger(__name__)
# The head is rewritten in place: padded to a fixed size so a shorter line leaves no tail.
_LINE_BYTES = 256

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


@dataclass(frozen=True)
class _Stored:
    """What the file holds, read at start-up: each chain's last row and the links at the
    rows the head names (None where there is no such row)."""

    last: int = 0
    digest_at: bytes | None = None
    key_id: str | None = None
    keyed_from: int | None = None
    record_last: int = 0
    record_digest_at: bytes | None = None


def _stored_head(
    db_path: Path, *, full_read: bool, at_seq: int | None, at_record: int | None
) -> _Stored:
    with duckdb.connect(
        str(db_path), read_only=True, config={"enable_external_access": False}
    ) as con:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if full_read:
            read_every_block(con, tables)
        if "span_chain" not in tables:
            return _Stored()
        present = [
            table
            for table in ("span_chain", "chain_anchor", "chain_tombstones")
            if table in tables  # a file from before a migration may lack one
        ]
        parts = [f"coalesce((SELECT max(seq) FROM {table}), 0)" for table in present]
        row = con.execute(f"SELECT greatest({', '.join(parts)}, 0)").fetchone()
        last = int(row[0]) if row and row[0] is not None else 0
        digest = None
        key_id, keyed_from = None, None
        if "chain_keying" in tables:
            keyed = con.execute(
                "SELECT key_id, keyed_from_seq FROM chain_keying LIMIT 1"
            ).fetchone()
            if keyed:
                key_id, keyed_from = str(keyed[0]), int(keyed[1])
        if at_seq is not None:
            union = " UNION ALL ".join(f"SELECT seq, hash FROM {table}" for table in present)
            found = con.execute(f"SELECT hash FROM ({union}) WHERE seq = ?", [at_seq]).fetchone()
            digest = bytes(found[0]) if found else None
        record_last, record_digest = 0, None
        if "record_chain" in tables:
            record_last = load_record_tip(con)[0]
            if at_record is not None:
                found = con.execute(
                    "SELECT hash FROM record_chain WHERE seq = ?", [at_record]
                ).fetchone()
                record_digest = bytes(found[0]) if found else None
        return _Stored(last, digest, key_id, keyed_from, record_last, record_digest)


@dataclass(frozen=True)
class HeadRecord:
    """One ``.head`` line: ``seq hash record_seq record_hash [hmac]``.

    ``records`` is None for a head written before it pinned the record chain
    (``seq hash [hmac]``)."""

    seq: int
    hash_hex: str
    records: tuple[int, str] | None
    mac: str | None

    @staticmethod
    def parse(fields: list[str]) -> HeadRecord | None:
        """The head in ``fields``, or None when they are not one."""
        if len(fields) not in (2, 3, 4, 5) or not fields[0].isdigit():
            return None
        records = None
        if len(fields) >= 4:
            if not fields[2].isdigit():
                return None
            records = (int(fields[2]), fields[3])
        mac = fields[-1] if len(fields) in (3, 5) else None
        return HeadRecord(int(fields[0]), fields[1], records, mac)

    def signed_text(self) -> bytes:
        """What the HMAC covers; the two formats differ, so one's HMAC never fits the other."""
        text = f"agent-audit head {self.seq} {self.hash_hex}"
        if self.records is not None:
            text += f" records {self.records[0]} {self.records[1]}"
        return text.encode()


class CommitMark:
    """Reads the mark at start-up and rewrites it after each commit."""

    def __init__(self, db_path: Path, key: ChainKey | None = None) -> None:
        self.path = mark_path(db_path)
        # An in-memory store ends with its process: there is no file to pin.
        self._in_memory = str(db_path) == ":memory:"
        self._key = key
        self._fd: int | None = None
        # The tips last written (None until the first write of this process).
        self._span_tip: tuple[int, bytes] | None = None
        self._record_tip: tuple[int, bytes] | None = None
        self._appends_seen = -1

    def _fields(self) -> list[str] | None:
        try:
            return self.path.read_text().split()
        except FileNotFoundError:
            return None

    def _mac(self, head: HeadRecord) -> str | None:
        if self._key is None:
            return None
        return self._key.mac(head.signed_text()).hex()

    def check(self, db_path: Path, *, full_read: bool = True) -> None:
        """Read the file once (read-only); raise LostCommits / HeadMismatch (see above).

        duckdb.Error escapes when the file cannot be read (damaged, locked).
        """
        if self._in_memory:
            return
        fields = self._fields()
        head = HeadRecord.parse(fields) if fields else None
        hint = ACKNOWLEDGE_HINT.format(db=db_path)
        stored = _Stored()
        if db_path.exists():
            stored = _stored_head(
                db_path,
                full_read=full_read,
                at_seq=head.seq if head else None,
                at_record=head.records[0] if head and head.records else None,
            )
        if (
            self._key is not None
            and stored.key_id is not None
            and stored.key_id != self._key.key_id
        ):
            raise HeadMismatch(
                f"the chain key {self._key.path} (id {self._key.key_id}) is not the key "
                f"{db_path} was chained with (id {stored.key_id}); "
                "point AGENT_AUDIT_CHAIN_KEY at it"
            )
        # A keyed head of row 0 is written before the first commit (``create``):
        # the chain then grew past it, which is how a head lags, not a lost head.
        if head is None or (not head.seq and head.records is None and head.mac is None):
            if stored.last > 0 or stored.record_last > 0:
                raise HeadMismatch(
                    f"{self.path} is missing (or empty, or not a head record) but {db_path} has "
                    f"chain rows up to {stored.last} (record chain: {stored.record_last}): the "
                    f"head may have been deleted to hide an edit; {hint}"
                )
            return
        self._check_mac(head, stored, hint)
        if not db_path.exists():
            raise LostCommits(
                f"{db_path} is missing but {self.path} records {head.seq} committed spans; "
                f"restore the file, or delete {self.path} to start a new trail"
            )
        if stored.last < head.seq:
            raise LostCommits(
                f"{db_path} ends at chain row {stored.last} but rows up to {head.seq} were "
                f"committed: its .wal looks damaged or rows were cut off; the files were left "
                f"untouched. To accept the loss: agent-audit verify --db {db_path} "
                "--acknowledge-head"
            )
        if stored.digest_at is not None and stored.digest_at.hex() != head.hash_hex:
            raise HeadMismatch(
                f"chain row {head.seq} of {db_path} is not the one {self.path} recorded: "
                f"the chain was rewritten; {hint}"
            )
        if head.records is not None:
            self._check_records(head.records, stored, db_path, hint)

    def _check_mac(self, head: HeadRecord, stored: _Stored, hint: str) -> None:
        if self._key is None:
            return  # nothing to check it with (verify without the key says so)
        if head.mac is not None:
            expected = self._mac(head)
            if expected is None or not hmac.compare_digest(expected, head.mac):
                raise HeadMismatch(
                    f"{self.path} was rewritten: its HMAC does not match the chain key "
                    f"{self._key.path}; {hint}"
                )
        elif stored.keyed_from is None and (stored.last or stored.record_last):
            # A keyed collector writes the keying record before its first commit: a
            # file with rows, a key, and neither keying nor HMAC may have lost both.
            raise HeadMismatch(
                f"{self.path} has no HMAC and {self.path.with_suffix('').name} records no "
                f"chain key, but the key {self._key.path} exists: the keying record may have "
                f"been deleted to pass off a relinked chain; {hint}"
            )
        elif stored.keyed_from is not None and head.seq >= stored.keyed_from:
            # Heads have carried an HMAC since the chain was keyed: only an older head may lack one.
            raise HeadMismatch(
                f"{self.path} has no HMAC, but the chain is keyed from row {stored.keyed_from} "
                f"and the head names row {head.seq}: it was rewritten without the key; {hint}"
            )

    def _check_records(
        self, records: tuple[int, str], stored: _Stored, db_path: Path, hint: str
    ) -> None:
        seq, digest_hex = records
        if stored.record_last < seq:
            raise HeadMismatch(
                f"the record chain of {db_path} ends at row {stored.record_last} but {self.path} "
                f"records row {seq}: the newest cancel request or retention pass record was "
                f"deleted with its link (or its commit was lost); {hint}"
            )
        if seq and (stored.record_digest_at is None or stored.record_digest_at.hex() != digest_hex):
            raise HeadMismatch(
                f"record chain row {seq} of {db_path} is not the one {self.path} recorded: "
                f"the record chain was rewritten; {hint}"
            )

    def line(self, seq: int, digest: bytes, records: tuple[int, bytes] | None = None) -> str:
        """The head record for the span tip ``seq``/``digest`` and the record chain's tip
        ``records``: ``seq hash record_seq record_hash [hmac]`` (without ``records``, the
        older ``seq hash [hmac]``, which pins the span chain only)."""
        head = HeadRecord(
            seq, digest.hex(), None if records is None else (records[0], records[1].hex()), None
        )
        text = f"{seq} {head.hash_hex}"
        if head.records is not None:
            text += f" {head.records[0]} {head.records[1]}"
        mac = self._mac(head)
        return text + (f" {mac}" if mac else "")

    def line_of(self, con: duckdb.DuckDBPyConnection) -> str:
        """The head record of the database behind ``con`` (both chains' tips)."""
        span = load_head(con)
        return self.line(span.seq, span.hash, load_record_tip(con))

    def record(self, seq: int, digest: bytes, records: tuple[int, bytes] | None = None) -> None:
        """Durably note the tips after a commit (one small write and fdatasync).

        ``records`` defaults to the record chain's tip last noted (``after_commit``)."""
        if records is not None:
            self._record_tip = records
        self._span_tip = (seq, digest)
        if self._in_memory:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        line = self.line(seq, digest, self._record_tip) + "\n"
        os.pwrite(self._fd, line.encode().ljust(_LINE_BYTES), 0)
        os.fdatasync(self._fd)

    def after_commit(self, con: duckdb.DuckDBPyConnection) -> None:
        """Call on the writer's connection after every commit: when the record chain's
        tip moved (a cancel request, a retention pass), the head is rewritten to pin it.

        Never raises: the commit is done; a head left behind is only less strict.
        """
        appends = appends_so_far()
        if appends == self._appends_seen and self._span_tip is not None:
            return  # no link appended since the tip was last read
        try:
            tip = load_record_tip(con)
            self._appends_seen = appends
            if tip == self._record_tip and self._span_tip is not None:
                return
            span = self._span_tip
            if span is None:
                head = load_head(con)
                span = (head.seq, head.hash)
            self.record(span[0], span[1], tip)
        except (duckdb.Error, OSError):
            logger.exception("cannot write the commit mark %s", self.path)

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
