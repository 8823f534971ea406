"""Verification of the tamper-evident store, shared by ``GET /verify`` and ``agent-audit verify``.

The span chain is walked first (``collector.chain``); then, because
``agent_runs`` and ``agent_steps`` are updated in place as spans arrive, so
they cannot be chained row by row. Instead, verification replays every stored
span, in chain order, through the same mapping into an in-memory database and
compares the result with the stored rows: an edited, removed or invented run
or step shows up as a difference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from collector.chain import Problem, VerifyReport, verify_chain
from collector.columns import AGENT_RUNS, AGENT_STEPS, names
from collector.decode import SpanRecord
from collector.ingest import IngestState, ingest_batch
from collector.schema import migrate

__all__ = ["report_dict", "verify_connection", "verify_derived", "verify_file"]

# Columns compared with the replay are every declared column but these: the id
# (the join key), a run's status (compared apart below: 'lost' comes from the clock,
# not from spans), and what the collector keeps for itself (update times, the
# "finished span arrived" flag). A step's parent_span_id is not compared either, so
# an edit of that column alone goes unnoticed here.
_RUNS_NOT_COMPARED = frozenset({"id", "status", "updated_at", "last_activity_at", "is_final"})
_STEPS_NOT_COMPARED = frozenset({"id", "parent_span_id", "is_final"})
_RUN_COLUMNS = tuple(c for c in names(AGENT_RUNS) if c not in _RUNS_NOT_COMPARED)
_STEP_COLUMNS = tuple(c for c in names(AGENT_STEPS) if c not in _STEPS_NOT_COMPARED)

_SPAN_SELECT = """
    SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns,
           s.status_code, s.status_message, s.scope_name, s.scope_version, s.resource,
           s.attributes, s.events, s.links, s.received_at
    FROM span_chain c JOIN spans s ON s.trace_id = c.trace_id AND s.span_id = c.span_id
    ORDER BY c.seq
"""


def _records(con: duckdb.DuckDBPyConnection, batch: int) -> Iterator[tuple[list[SpanRecord], Any]]:
    cursor = con.cursor()  # its own connection: streamed while other queries run
    cursor.execute(_SPAN_SELECT)
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            cursor.close()
            return
        records = [
            SpanRecord(
                trace_id=r[0],
                span_id=r[1],
                parent_span_id=r[2],
                name=r[3],
                kind=r[4] or 0,
                start_ns=r[5] or 0,
                end_ns=r[6] or 0,
                status_code=r[7] or 0,
                status_message=r[8] or "",
                scope_name=r[9] or "",
                scope_version=r[10] or "",
                resource=json.loads(r[11] or "{}"),
                attributes=json.loads(r[12] or "{}"),
                events=json.loads(r[13] or "[]"),
                links=json.loads(r[14] or "[]"),
            )
            for r in rows
        ]
        yield records, rows[-1][15]


def _rederive(con: duckdb.DuckDBPyConnection, batch: int) -> duckdb.DuckDBPyConnection:
    mem = duckdb.connect(":memory:")
    mem.execute("SET TimeZone = 'UTC'")
    migrate(mem)
    state = IngestState()
    for records, received_at in _records(con, batch):
        mem.execute("BEGIN TRANSACTION")
        ingest_batch(mem, records, state, received_at or datetime(1970, 1, 1))
        mem.execute("COMMIT")
    return mem


def _first_difference(
    con: duckdb.DuckDBPyConnection,
    table: str,
    noun: str,
    derived: Any,
    columns: tuple[str, ...],
    retention_cutoff: datetime | None,
) -> Problem | None:
    con.register("_derived_rows", derived)
    try:
        differs = " OR ".join(f"s.{c} IS DISTINCT FROM d.{c}" for c in columns)
        rows = con.execute(
            f"""
            SELECT s.id, d.id, s.trace_id, d.trace_id, d.started_at FROM {table} s
            FULL OUTER JOIN _derived_rows d ON s.id = d.id
            WHERE (s.id IS NULL AND (? IS NULL OR d.started_at >= ?))
               OR (d.id IS NULL AND EXISTS (
                    SELECT 1 FROM spans x WHERE x.trace_id = s.trace_id))
               OR (s.id IS NOT NULL AND d.id IS NOT NULL AND ({differs}))
            ORDER BY coalesce(s.started_at, d.started_at), coalesce(s.id, d.id)
            LIMIT 1
            """,
            [retention_cutoff, retention_cutoff],
        ).fetchall()  # fetchall: the result must be finished before unregistering
    finally:
        con.unregister("_derived_rows")
    if not rows:
        return None
    stored_id, derived_id, stored_trace, derived_trace, _ = rows[0]
    if stored_id is None:
        return Problem(None, derived_trace, derived_id, "derived_missing",
                       f"{noun} {derived_id} was removed")  # fmt: skip
    if derived_id is None:
        return Problem(None, stored_trace, stored_id, "derived_added",
                       f"{noun} {stored_id} does not come from any stored span")  # fmt: skip
    return Problem(None, stored_trace, stored_id, "derived_altered",
                   f"{noun} {stored_id} was altered")  # fmt: skip


def verify_derived(con: duckdb.DuckDBPyConnection, batch: int = 5_000) -> Problem | None:
    """The first run or step that differs from what the stored spans give, or None."""
    mem = _rederive(con, batch)
    try:
        cutoff = con.execute("SELECT max(cutoff) FROM retention_log").fetchall()[0][0]
        # 'lost' is decided by the clock, not by spans: compare it as 'running'.
        runs = mem.sql(
            f"SELECT id, {', '.join(_RUN_COLUMNS)}, status FROM agent_runs"
        ).to_arrow_table()
        con.register("_stored_runs", con.sql(
            f"SELECT id, {', '.join(_RUN_COLUMNS)}, "
            "CASE WHEN status = 'lost' THEN 'running' ELSE status END AS status FROM agent_runs"
        ).to_arrow_table())  # fmt: skip
        try:
            problem = _first_difference(
                con, "_stored_runs", "run", runs, (*_RUN_COLUMNS, "status"), cutoff
            )
        finally:
            con.unregister("_stored_runs")
        if problem:
            return problem
        steps = mem.sql(f"SELECT id, {', '.join(_STEP_COLUMNS)} FROM agent_steps").to_arrow_table()
        return _first_difference(con, "agent_steps", "step", steps, _STEP_COLUMNS, cutoff)
    finally:
        mem.close()


def report_dict(report: VerifyReport, head: tuple[int, str] | None = None) -> dict[str, Any]:
    """The report as JSON-ready data (what ``GET /verify`` answers)."""
    problem = report.problem
    return {
        "ok": report.ok,
        "checked_spans": report.checked,
        "anchor_seq": report.anchor_seq,
        "head": {"seq": head[0], "hash": head[1]} if head else None,
        "problem": None
        if problem is None
        else {
            "kind": problem.kind,
            "seq": problem.seq,
            "trace_id": problem.trace_id,
            "span_id": problem.span_id,
            "message": problem.message,
        },
    }


def verify_connection(con: duckdb.DuckDBPyConnection, *, derived: bool = True) -> dict[str, Any]:
    """Walk the span chain, then compare runs and steps with what the spans give."""
    report = verify_chain(con)
    if report.ok and derived:
        problem = verify_derived(con)
        if problem is not None:
            report = VerifyReport(report.checked, report.anchor_seq, problem)
    row = con.execute("SELECT seq, hash FROM span_chain ORDER BY seq DESC LIMIT 1").fetchone()
    result = report_dict(report, (int(row[0]), bytes(row[1]).hex()) if row else None)
    result["derived_checked"] = derived
    return result


def verify_file(path: Path, *, derived: bool = True) -> dict[str, Any]:
    """Verify a DuckDB file opened read-only (the collector must not hold it)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return verify_connection(con, derived=derived)
