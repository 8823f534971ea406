"""Tamper evidence for the rows that are not spans: cancel requests and retention passes.

``record_chain`` holds one link per recorded event, in commit order:
``hash[n] = HMAC(key, hash[n-1] || kind || record key || content)`` (plain
sha256 for a file that has no chain key), where ``content`` is the row as it
was written, as canonical JSON, kept in the link itself. The events are:

- ``cancel_request``: a row of ``cancel_requests`` was recorded (key: run id);
- ``cancel_removed``: retention deleted that row with its run (key: run id);
- ``retention``: a retention pass was logged in ``retention_log`` (key: when it ran).

Verification (:func:`verify_records`) walks the links (an edited or removed
link breaks the walk), replays them into what the two tables must hold, and
compares that with the rows as stored: an edited row is named with each
changed column and its old and new value, a deleted row with what it held, a
row added behind the collector's back as not chained.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from collector.chain import Problem, load_keying
from collector.chain_key import ChainKey

__all__ = [
    "CANCEL_COLUMNS",
    "RETENTION_COLUMNS",
    "RecordReport",
    "append_record",
    "chain_cancel_request",
    "chain_retention_pass",
    "chain_rows_of_older_schema",
    "chain_removed_cancel",
    "appends_so_far",
    "load_record_tip",
    "verify_records",
]

ZERO = b"\0" * 32
# The schema version that added record_chain (collector/schema.py).
RECORD_CHAIN_SINCE = 7
CANCEL_COLUMNS = ("run_id", "requested_at", "requested_by", "reason")
RETENTION_COLUMNS = (
    "ran_at",
    "cutoff",
    "runs_deleted",
    "steps_deleted",
    "spans_deleted",
    "anchor_seq",
    "anchor_hash",
)
_NOUN = {"cancel_request": "cancel request", "retention": "retention pass"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def content_of(columns: Sequence[str], row: Sequence[Any]) -> str:
    """A row as canonical JSON: the bytes that are chained and compared."""
    return json.dumps(
        {c: _plain(v) for c, v in zip(columns, row, strict=True)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _link(previous: bytes, kind: str, record_key: str, content: str, key: ChainKey | None) -> bytes:
    data = previous + "\x1f".join((kind, record_key, content)).encode("utf-8", "surrogatepass")
    if key is not None:
        return hmac.new(key.secret, data, hashlib.sha256).digest()
    return hashlib.sha256(data).digest()


def _keyed(con: duckdb.DuckDBPyConnection, key: ChainKey | None) -> ChainKey | None:
    # A file keyed for its span chain keys its record links from the first one.
    return key if load_keying(con) is not None else None


_appends = 0  # links appended by this process, committed or not (see appends_so_far)
# Each store's writer appends, and a process may hold several stores: ``+=`` reads the
# count and then writes it, and another writer may append in between.
_appends_lock = threading.Lock()


def appends_so_far() -> int:
    """How many links this process has appended (rolled back ones too).

    Lets the writer skip reading the record chain's tip after a commit that
    appended nothing, which is nearly every commit: a query costs about a
    millisecond of CPU, this comparison nothing.
    """
    return _appends


def load_record_tip(con: duckdb.DuckDBPyConnection) -> tuple[int, bytes]:
    """The record chain's last link (seq, hash); (0, zeros) while it has none.

    ``<db>.head`` pins it next to the span chain's (collector/commit_mark.py): the
    newest link has no later one to betray its removal, so only the head can.
    """
    last = con.execute("SELECT seq, hash FROM record_chain ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(last[0]), bytes(last[1])) if last else (0, ZERO)


def append_record(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    record_key: str,
    content: str,
    key: ChainKey | None,
) -> int:
    """Link one event after the last (the caller's transaction); return its seq."""
    global _appends
    with _appends_lock:
        _appends += 1
    last = con.execute("SELECT seq, hash FROM record_chain ORDER BY seq DESC LIMIT 1").fetchone()
    seq, previous = (int(last[0]), bytes(last[1])) if last else (0, ZERO)
    digest = _link(previous, kind, record_key, content, _keyed(con, key))
    con.execute(
        "INSERT INTO record_chain VALUES (?, ?, ?, ?, ?)",
        [seq + 1, kind, record_key, content, digest],
    )
    return seq + 1


def _row_content(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], where: str, value: Any
) -> str | None:
    row = con.execute(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {where} = ?", [value]
    ).fetchone()
    return content_of(columns, row) if row else None


def chain_cancel_request(con: duckdb.DuckDBPyConnection, run_id: str, key: ChainKey | None) -> None:
    """Link the stored cancel request of ``run_id``, as read back from the table."""
    content = _row_content(con, "cancel_requests", CANCEL_COLUMNS, "run_id", run_id)
    if content is not None:
        append_record(con, "cancel_request", run_id, content, key)


def chain_removed_cancel(
    con: duckdb.DuckDBPyConnection, row: Sequence[Any], key: ChainKey | None
) -> None:
    """Link the deletion, by retention, of a cancel request (its row, CANCEL_COLUMNS order)."""
    append_record(con, "cancel_removed", str(row[0]), content_of(CANCEL_COLUMNS, row), key)


def chain_retention_pass(
    con: duckdb.DuckDBPyConnection, ran_at: datetime, key: ChainKey | None
) -> None:
    """Link the ``retention_log`` row of the pass that ran at ``ran_at``."""
    row = con.execute(
        f"SELECT {', '.join(RETENTION_COLUMNS)} FROM retention_log WHERE ran_at = ?", [ran_at]
    ).fetchone()
    if row is not None:  # keyed by the stored time, as verify reads it back
        append_record(
            con, "retention", str(_plain(row[0])), content_of(RETENTION_COLUMNS, row), key
        )


def chain_rows_of_older_schema(
    con: duckdb.DuckDBPyConnection, key: ChainKey | None, previous_version: int
) -> int:
    """At the start that upgraded the file to the record chain, link the rows it already
    held; return how many. Only then: a later start links nothing it did not write."""
    if not 0 < previous_version < RECORD_CHAIN_SINCE:
        return 0
    con.execute("BEGIN TRANSACTION")
    try:
        added = _chain_unchained_rows(con, key)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return added


def _chain_unchained_rows(con: duckdb.DuckDBPyConnection, key: ChainKey | None) -> int:
    chained = {
        (str(kind), str(record_key))
        for kind, record_key in con.execute("SELECT kind, record_key FROM record_chain").fetchall()
    }
    added = 0
    for kind, table, columns, order in (
        ("cancel_request", "cancel_requests", CANCEL_COLUMNS, "requested_at, run_id"),
        ("retention", "retention_log", RETENTION_COLUMNS, "ran_at"),
    ):
        for row in con.execute(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
        ).fetchall():
            record_key = str(_plain(row[0]))
            if (kind, record_key) not in chained:
                append_record(con, kind, record_key, content_of(columns, row), key)
                added += 1
    return added


@dataclass(frozen=True)
class RecordReport:
    """What the record chain check found: links checked and the first problem."""

    checked: int
    problem: Problem | None


def _describe(content: str) -> str:
    values = json.loads(content)
    return ", ".join(f"{k}={v!r}" for k, v in values.items() if k not in ("run_id", "ran_at"))


def _changes(expected: str, stored: str) -> str:
    before, after = json.loads(expected), json.loads(stored)
    return "; ".join(
        f"{column} {before.get(column)!r} → {after.get(column)!r}"
        for column in sorted(set(before) | set(after))
        if before.get(column) != after.get(column)
    )


def _problem(kind: str, message: str) -> RecordReport:
    # No seq: Problem.seq names a row of the span chain, and this is the record chain.
    return RecordReport(0, Problem(None, None, None, kind, message))


def _compare(
    noun: str, who: str, expected: dict[str, str], stored: dict[str, str]
) -> Problem | None:
    for record_key in sorted(set(expected) | set(stored)):
        subject = f"the {noun} {who} {record_key}"
        if record_key not in stored:
            return Problem(
                None,
                None,
                None,
                "record_removed",
                f"{subject} was deleted (it held {_describe(expected[record_key])})",
            )
        if record_key not in expected:
            return Problem(
                None,
                None,
                None,
                "record_added",
                f"{subject} is not in the record chain (added outside the collector)",
            )
        if expected[record_key] != stored[record_key]:
            return Problem(
                None,
                None,
                None,
                "record_altered",
                f"{subject} was altered: {_changes(expected[record_key], stored[record_key])}",
            )
    return None


def verify_records(con: duckdb.DuckDBPyConnection, key: ChainKey | None) -> RecordReport:
    """Walk the record chain, then compare what it says with the stored rows."""
    keyed = _keyed(con, key)
    cancels: dict[str, str] = {}
    passes: dict[str, str] = {}
    previous, expected_seq, checked = ZERO, 1, 0
    last_pass: str | None = None
    for seq, kind, record_key, content, stored_hash in con.execute(
        "SELECT seq, kind, record_key, content, hash FROM record_chain ORDER BY seq"
    ).fetchall():
        if seq != expected_seq:
            return _problem(
                "record_chain_missing",
                f"record chain row {expected_seq} is missing (next found: {seq})",
            )
        computed = _link(previous, kind, record_key, content, keyed)
        if computed != bytes(stored_hash):
            what = _NOUN.get(kind, kind.replace("_", " "))
            return _problem(
                "record_chain_altered",
                f"record chain row {seq} ({what} of {record_key}) was altered",
            )
        if kind == "cancel_request":
            cancels[record_key] = content
        elif kind == "cancel_removed":
            cancels.pop(record_key, None)
        elif kind == "retention":
            passes[record_key] = content
            last_pass = record_key
        previous, expected_seq, checked = computed, expected_seq + 1, checked + 1
    stored_cancels = {
        str(row[0]): content_of(CANCEL_COLUMNS, row)
        for row in con.execute(
            f"SELECT {', '.join(CANCEL_COLUMNS)} FROM cancel_requests"
        ).fetchall()
    }
    stored_passes = {
        str(_plain(row[0])): content_of(RETENTION_COLUMNS, row)
        for row in con.execute(
            f"SELECT {', '.join(RETENTION_COLUMNS)} FROM retention_log"
        ).fetchall()
    }
    problem = (
        _compare("cancel request", "of run", cancels, stored_cancels)
        or _compare("retention pass", "that ran at", passes, stored_passes)
        or _retention_traces(con, passes, last_pass)
    )
    return RecordReport(checked, problem)


def _retention_traces(
    con: duckdb.DuckDBPyConnection, passes: dict[str, str], last_pass: str | None
) -> Problem | None:
    """The span chain's own traces of retention must come from chained passes.

    Each pass leaves the chain's anchor where it recorded it, and its tombstones
    carry its time: a pass deleted with its link still shows here.
    """
    anchor = con.execute("SELECT seq FROM chain_anchor").fetchone()
    anchor_seq = int(anchor[0]) if anchor else 0
    recorded = int(json.loads(passes[last_pass])["anchor_seq"]) if last_pass in passes else 0
    if anchor_seq != recorded:
        return Problem(
            None,
            None,
            None,
            "record_removed",
            f"the span chain starts after row {anchor_seq}, but the last recorded retention "
            f"pass left it at row {recorded}: a retention pass record was deleted",
        )
    for (removed_at,) in con.execute(
        "SELECT DISTINCT removed_at FROM chain_tombstones ORDER BY 1"
    ).fetchall():
        if str(_plain(removed_at)) not in passes:
            return Problem(
                None,
                None,
                None,
                "record_removed",
                f"spans were removed by a retention pass at {_plain(removed_at)} that is "
                "not in the record chain: its record was deleted",
            )
    return None
