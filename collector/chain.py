"""Tamper evidence: every stored span is linked into a sha256 hash chain.

``span_chain`` holds one row per stored span, in commit order:
``hash[n] = sha256(hash[n-1] || canonical(span row n))``. The chain starts at
``chain_anchor`` (all zeros, or where retention last cut it). Verification
recomputes every link from the rows as stored, so an altered span, a removed
span, a removed or edited chain row, or a span added behind the collector's
back is found, and the first one is named.

Runs and steps are derived from spans (and can be re-derived), so the chain
covers the spans they come from.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from collector.chain_key import ChainKey
from collector.schema import SPAN_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa

__all__ = [
    "CONTENT_COLUMNS",
    "ChainHead",
    "Problem",
    "VerifyReport",
    "Keying",
    "load_head",
    "load_keying",
    "append_rows",
    "verify_chain",
]

ZERO = b"\0" * 32
# The span columns the chain covers, in table order: all but when it arrived.
CONTENT_COLUMNS = tuple(c for c in SPAN_COLUMNS if c != "received_at")


def canonical(row: Sequence[Any]) -> bytes:
    """A span row's bytes for hashing: fields joined by the ASCII unit separator."""
    return "\x1f".join(["\x00" if v is None else str(v) for v in row]).encode(
        "utf-8", "surrogatepass"
    )


def link(previous: bytes, row: Sequence[Any], key: ChainKey | None = None) -> bytes:
    """The next link: HMAC-SHA256 under ``key``, or plain sha256 for unkeyed rows."""
    if key is not None:
        # One-shot HMAC (OpenSSL's, no hmac object per row): the same digest.
        return hmac.digest(key.secret, previous + canonical(row), "sha256")
    return hashlib.sha256(previous + canonical(row)).digest()


@dataclass(frozen=True)
class Keying:
    """From which chain row links are keyed, and the public id of that key."""

    keyed_from_seq: int
    key_id: str


def load_keying(con: duckdb.DuckDBPyConnection) -> Keying | None:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'chain_keying'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute("SELECT keyed_from_seq, key_id FROM chain_keying LIMIT 1").fetchone()
    return Keying(int(row[0]), str(row[1])) if row else None


@dataclass
class ChainHead:
    """The last link written; the writer keeps it between transactions."""

    seq: int
    hash: bytes


def load_head(con: duckdb.DuckDBPyConnection) -> ChainHead:
    row = con.execute(
        "SELECT seq, hash FROM (SELECT seq, hash FROM span_chain UNION ALL "
        "SELECT seq, hash FROM chain_tombstones) ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if row:
        return ChainHead(int(row[0]), bytes(row[1]))
    anchor = con.execute("SELECT seq, hash FROM chain_anchor").fetchone()
    if anchor:
        return ChainHead(int(anchor[0]), bytes(anchor[1]))
    return ChainHead(0, ZERO)


def append_rows(
    con: duckdb.DuckDBPyConnection,
    head: ChainHead,
    rows: Iterable[Sequence[Any]],
    key: ChainKey | None = None,
) -> ChainHead:
    """Link newly inserted span rows (CONTENT_COLUMNS order) after ``head``."""
    seqs: list[int] = []
    traces: list[str] = []
    spans: list[str] = []
    hashes: list[bytes] = []
    seq, current = head.seq, head.hash
    for row in rows:
        seq += 1
        current = link(current, row, key)
        seqs.append(seq)
        traces.append(row[0])
        spans.append(row[1])
        hashes.append(current)
    if not seqs:
        return head
    table = pa.table(
        {"seq": seqs, "trace_id": traces, "span_id": spans, "hash": hashes},
        schema=pa.schema(
            [
                ("seq", pa.int64()),
                ("trace_id", pa.string()),
                ("span_id", pa.string()),
                ("hash", pa.binary()),
            ]
        ),
    )
    con.register("_chain_rows", table)
    con.execute("INSERT INTO span_chain SELECT * FROM _chain_rows")
    con.unregister("_chain_rows")
    return ChainHead(seq, current)


@dataclass(frozen=True)
class Problem:
    """The first thing found wrong."""

    seq: int | None
    trace_id: str | None
    span_id: str | None
    kind: str  # 'altered', 'missing', 'chain_missing', 'chain_altered', 'unchained'
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """What ``agent-audit verify`` found."""

    checked: int
    anchor_seq: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(
    con: duckdb.DuckDBPyConnection, batch_rows: int = 10_000, key: ChainKey | None = None
) -> VerifyReport:
    """Walk the chain from its anchor; stop at the first problem.

    Links from the keyed row on are checked as HMACs under ``key``; without the
    key (or with another one) that part cannot be checked, which is reported.
    """
    keying = load_keying(con)
    keyed_from = keying.keyed_from_seq if keying else None
    if keying is not None:
        last = con.execute("SELECT coalesce(max(seq), 0) FROM span_chain").fetchone()
        if last and int(last[0]) >= keying.keyed_from_seq:
            if key is None:
                return VerifyReport(
                    0,
                    0,
                    Problem(
                        None,
                        None,
                        None,
                        "no_key",
                        f"the chain is keyed from row {keying.keyed_from_seq}: give the chain "
                        "key (AGENT_AUDIT_CHAIN_KEY, default <db>.key) to verify it",
                    ),
                )
            if key.key_id != keying.key_id:
                return VerifyReport(
                    0,
                    0,
                    Problem(
                        None,
                        None,
                        None,
                        "wrong_key",
                        f"the chain key {key.path} (id {key.key_id}) is not the one this "
                        f"database was chained with (id {keying.key_id})",
                    ),
                )
    anchor = con.execute("SELECT seq, hash FROM chain_anchor").fetchone()
    seq0, previous = (int(anchor[0]), bytes(anchor[1])) if anchor else (0, ZERO)
    columns = ", ".join(f"s.{c}" for c in CONTENT_COLUMNS)
    nulls = ", ".join("NULL" for _ in CONTENT_COLUMNS)
    cursor = con.execute(
        f"""
        SELECT c.seq, c.trace_id, c.span_id, c.hash,
               CASE WHEN s.span_id IS NULL THEN 'missing' ELSE 'present' END AS state, {columns}
        FROM span_chain c LEFT JOIN spans s
          ON s.trace_id = c.trace_id AND s.span_id = c.span_id
        UNION ALL
        SELECT seq, trace_id, span_id, hash, 'removed by retention', {nulls}
        FROM chain_tombstones
        ORDER BY 1
        """
    )
    expected_seq = seq0 + 1
    checked = 0
    while True:
        chunk = cursor.fetchmany(batch_rows)
        if not chunk:
            break
        for seq, trace_id, span_id, stored_hash, state, *content in chunk:
            if seq != expected_seq:
                return VerifyReport(
                    checked,
                    seq0,
                    Problem(
                        expected_seq,
                        None,
                        None,
                        "chain_missing",
                        f"chain row {expected_seq} is missing (next found: {seq})",
                    ),
                )
            if state == "removed by retention":
                # The span is gone by design; its recorded link carries the chain on.
                previous = bytes(stored_hash)
                expected_seq += 1
                continue
            if state == "missing":
                return VerifyReport(
                    checked,
                    seq0,
                    Problem(
                        seq,
                        trace_id,
                        span_id,
                        "missing",
                        f"span {trace_id}/{span_id} (chain row {seq}) was removed",
                    ),
                )
            keyed = keyed_from is not None and seq >= keyed_from
            computed = link(previous, content, key if keyed else None)
            if computed != bytes(stored_hash):
                kind = "altered"
                message = f"span {trace_id}/{span_id} (chain row {seq}) was altered"
                if (content[0], content[1]) != (trace_id, span_id):
                    kind = "chain_altered"
                    message = f"chain row {seq} was altered"
                return VerifyReport(checked, seq0, Problem(seq, trace_id, span_id, kind, message))
            previous = computed
            expected_seq += 1
            checked += 1
    stray = con.execute(
        """
        SELECT s.trace_id, s.span_id FROM spans s
        ANTI JOIN span_chain c ON s.trace_id = c.trace_id AND s.span_id = c.span_id
        LIMIT 1
        """
    ).fetchone()
    if stray:
        return VerifyReport(
            checked,
            seq0,
            Problem(
                None,
                stray[0],
                stray[1],
                "unchained",
                f"span {stray[0]}/{stray[1]} is not in the chain (added outside the collector)",
            ),
        )
    return VerifyReport(checked, seq0, None)
