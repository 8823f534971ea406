"""Retention: delete what is older than the configured age, and say so in the trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

__all__ = ["RetentionResult", "apply_retention"]


@dataclass(frozen=True)
class RetentionResult:
    """How much one retention pass removed."""

    runs: int
    steps: int
    spans: int


def apply_retention(
    con: duckdb.DuckDBPyConnection, cutoff: datetime, now: datetime
) -> RetentionResult:
    """Delete finished runs started before ``cutoff`` (with steps) and spans received before it.

    Spans are removed as a prefix of the hash chain (they are chained in the
    order they were received), and the chain's anchor moves to the last removed
    link, so ``verify`` still checks everything that remains. Each pass is
    recorded in ``retention_log``.
    """
    runs = con.execute(
        "SELECT id FROM agent_runs WHERE started_at < ? AND status <> 'running'", [cutoff]
    ).fetchall()
    run_ids = [r[0] for r in runs]
    steps_deleted = 0
    if run_ids:
        steps_deleted = _count(
            con.execute(
                "DELETE FROM agent_steps WHERE agent_run_id IN (SELECT unnest(?)) RETURNING 1",
                [run_ids],
            ).fetchall()
        )
        con.execute("DELETE FROM cancel_requests WHERE run_id IN (SELECT unnest(?))", [run_ids])
        con.execute("DELETE FROM agent_runs WHERE id IN (SELECT unnest(?))", [run_ids])
    last = con.execute(
        """
        SELECT max(c.seq) FROM span_chain c JOIN spans s
          ON s.trace_id = c.trace_id AND s.span_id = c.span_id
        WHERE s.received_at < ?
        """,
        [cutoff],
    ).fetchone()
    spans_deleted = 0
    if last and last[0] is not None:
        upto = int(last[0])
        anchor_hash = con.execute("SELECT hash FROM span_chain WHERE seq = ?", [upto]).fetchone()
        assert anchor_hash is not None
        spans_deleted = _count(
            con.execute(
                """
                DELETE FROM spans WHERE (trace_id, span_id) IN (
                    SELECT (trace_id, span_id) FROM span_chain WHERE seq <= ?)
                RETURNING 1
                """,
                [upto],
            ).fetchall()
        )
        con.execute("DELETE FROM span_chain WHERE seq <= ?", [upto])
        con.execute("DELETE FROM chain_anchor")
        con.execute("INSERT INTO chain_anchor VALUES (?, ?)", [upto, anchor_hash[0]])
    if run_ids or spans_deleted:
        anchor = con.execute("SELECT seq, hash FROM chain_anchor").fetchone()
        seq, digest = (anchor[0], anchor[1]) if anchor else (0, b"\0" * 32)
        con.execute(
            "INSERT INTO retention_log VALUES (?, ?, ?, ?, ?, ?, ?)",
            [now, cutoff, len(run_ids), steps_deleted, spans_deleted, seq, digest],
        )
    return RetentionResult(runs=len(run_ids), steps=steps_deleted, spans=spans_deleted)


def _count(rows: list[tuple[object, ...]]) -> int:
    return len(rows)
