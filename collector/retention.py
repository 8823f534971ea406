"""Retention: delete what is older than the configured age, and say so in the trail.

A run goes with its whole trace: its steps, its spans and the other runs of
that trace, once every run of the trace is finished and started before the
cutoff; a trace with no run goes once all its spans arrived before it. The
deleted spans' chain links become tombstones (sequence number and hash), so
``verify`` still walks an unbroken chain; a leading stretch of tombstones is
folded into the chain's anchor. Each pass is recorded in ``retention_log``;
that row, and each cancel request deleted with its run, is linked into the
record chain (:mod:`collector.record_chain`), so ``verify`` tells an edited or
deleted pass or cancel request from one retention removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from collector.chain_key import ChainKey
from collector.record_chain import CANCEL_COLUMNS, chain_removed_cancel, chain_retention_pass
from instrumentation.attributes import RunStatus

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa

__all__ = ["RetentionResult", "apply_retention"]


@dataclass(frozen=True)
class RetentionResult:
    """How much one retention pass removed."""

    runs: int
    steps: int
    spans: int


def _expired_traces(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> list[str]:
    rows = con.execute(
        f"""
        SELECT trace_id FROM agent_runs WHERE trace_id IS NOT NULL GROUP BY trace_id
        HAVING bool_and(status <> '{RunStatus.RUNNING}' AND started_at < ?)
        UNION
        SELECT s.trace_id FROM spans s
        WHERE NOT EXISTS (SELECT 1 FROM agent_runs r WHERE r.trace_id = s.trace_id)
        GROUP BY s.trace_id HAVING max(s.received_at) < ?
        """,
        [cutoff, cutoff],
    ).fetchall()
    return [r[0] for r in rows]


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return len(con.execute(sql).fetchall())


def apply_retention(
    con: duckdb.DuckDBPyConnection, cutoff: datetime, now: datetime, key: ChainKey | None
) -> RetentionResult:
    """Delete expired traces (runs, steps, spans); the caller owns the transaction.

    ``key`` is the store's chain key, for the record chain's links.
    """
    traces = _expired_traces(con, cutoff)
    if not traces:
        return RetentionResult(0, 0, 0)
    con.register("_expired", pa.table({"trace_id": traces}))
    try:
        in_expired = "trace_id IN (SELECT trace_id FROM _expired)"
        removed_cancels = con.execute(
            "DELETE FROM cancel_requests WHERE run_id IN "
            f"(SELECT id FROM agent_runs WHERE {in_expired}) RETURNING {', '.join(CANCEL_COLUMNS)}"
        ).fetchall()
        for row in sorted(removed_cancels, key=lambda r: str(r[0])):
            chain_removed_cancel(con, row, key)
        steps = _count(con, f"DELETE FROM agent_steps WHERE {in_expired} RETURNING 1")
        runs = _count(con, f"DELETE FROM agent_runs WHERE {in_expired} RETURNING 1")
        con.execute(
            f"INSERT INTO chain_tombstones SELECT seq, trace_id, span_id, hash, ? "
            f"FROM span_chain WHERE {in_expired}",
            [now],
        )
        con.execute(f"DELETE FROM span_chain WHERE {in_expired}")
        spans = _count(con, f"DELETE FROM spans WHERE {in_expired} RETURNING 1")
        con.execute(f"DELETE FROM trace_arrivals WHERE {in_expired}")
    finally:
        con.unregister("_expired")
    _fold_leading_tombstones(con)
    anchor = con.execute("SELECT seq, hash FROM chain_anchor").fetchall()
    seq, digest = (anchor[0][0], anchor[0][1]) if anchor else (0, b"\0" * 32)
    con.execute(
        "INSERT INTO retention_log VALUES (?, ?, ?, ?, ?, ?, ?)",
        [now, cutoff, runs, steps, spans, seq, digest],
    )
    chain_retention_pass(con, now, key)
    return RetentionResult(runs=runs, steps=steps, spans=spans)


def _fold_leading_tombstones(con: duckdb.DuckDBPyConnection) -> None:
    """Tombstones before the first live link only repeat the anchor: fold them into it."""
    first_live = con.execute("SELECT min(seq) FROM span_chain").fetchall()[0][0]
    limit = (
        con.execute("SELECT max(seq) FROM chain_tombstones").fetchall()[0][0]
        if first_live is None
        else first_live - 1
    )
    if limit is None:
        return
    last = con.execute(
        "SELECT seq, hash FROM chain_tombstones WHERE seq <= ? ORDER BY seq DESC LIMIT 1", [limit]
    ).fetchall()
    if not last:
        return
    # Only a contiguous run of tombstones from the anchor can be folded.
    anchor = con.execute("SELECT seq FROM chain_anchor").fetchall()
    start = anchor[0][0] if anchor else 0
    count = con.execute(
        "SELECT count(*) FROM chain_tombstones WHERE seq > ? AND seq <= ?", [start, last[0][0]]
    ).fetchall()[0][0]
    if count != last[0][0] - start:
        return
    con.execute("DELETE FROM chain_anchor")
    con.execute("INSERT INTO chain_anchor VALUES (?, ?)", [last[0][0], last[0][1]])
    con.execute("DELETE FROM chain_tombstones WHERE seq <= ?", [last[0][0]])
