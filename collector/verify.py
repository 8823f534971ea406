"""Verification of the tamper-evident store, shared by ``GET /verify`` and ``agent-audit verify``.

The span chain is walked first (``collector.chain``), then the record chain of
cancel requests and retention passes (``collector.record_chain``); then, because
``agent_runs`` and ``agent_steps`` are updated in place as spans arrive, so
they cannot be chained row by row. Instead, verification replays every stored
span, in chain order, through the same mapping into an in-memory database and
compares the result with the stored rows: an edited, removed or invented run
or step shows up as a difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from collector.chain import Problem, VerifyReport, load_head, verify_chain
from collector.chain_key import ChainKey, default_key_path, load_key
from collector.columns import AGENT_RUNS, AGENT_STEPS, names
from collector.commit_mark import CommitMark, LostCommits
from collector.decode import SpanRecord
from collector.ingest import IngestState, ingest_batch
from collector.record_chain import load_record_tip, verify_records
from collector.rootless_runs import STAND_IN
from collector.schema import migrate

__all__ = [
    "acknowledge_head",
    "rederive",
    "report_dict",
    "verify_connection",
    "verify_derived",
    "verify_file",
]

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


def rederive(
    con: duckdb.DuckDBPyConnection,
    batch: int = 5_000,
    on_batch: Callable[[int], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory database holding what the current mapping derives from the stored
    spans, replayed in chain order; ``on_batch`` is told how many spans each batch had."""
    mem = duckdb.connect(":memory:")
    mem.execute("SET TimeZone = 'UTC'")
    migrate(mem)
    state = IngestState()
    for records, received_at in _records(con, batch):
        mem.execute("BEGIN TRANSACTION")
        ingest_batch(mem, records, state, received_at or datetime(1970, 1, 1))
        mem.execute("COMMIT")
        if on_batch is not None:
            on_batch(len(records))
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
    mem = rederive(con, batch)
    try:
        cutoff = con.execute("SELECT max(cutoff) FROM retention_log").fetchall()[0][0]
        # 'lost' is decided by the clock, not by spans: compare it as 'running'; so is
        # the verdict on a stand-in run (collector/rootless_runs.py), error included.
        runs = mem.sql(
            f"SELECT id, {', '.join(_RUN_COLUMNS)}, status FROM agent_runs"
        ).to_arrow_table()
        stand_in = "(metadata = ? AND NOT is_final)"
        columns = ", ".join(
            f"CASE WHEN {stand_in} THEN NULL ELSE error END AS error" if c == "error" else c
            for c in _RUN_COLUMNS
        )
        con.register("_stored_runs", con.execute(
            f"SELECT id, {columns}, CASE WHEN status = 'lost' OR {stand_in} AND status = 'failed' "
            "THEN 'running' ELSE status END AS status FROM agent_runs",
            [STAND_IN, STAND_IN],
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


def verify_connection(
    con: duckdb.DuckDBPyConnection, *, derived: bool = True, key: ChainKey | None = None
) -> dict[str, Any]:
    """Walk the span chain, then compare runs and steps with what the spans give."""
    report = verify_chain(con, key=key)
    records = verify_records(con, key) if report.ok else None
    if records is not None and records.problem is not None:
        report = VerifyReport(report.checked, report.anchor_seq, records.problem)
    if report.ok and derived:
        problem = verify_derived(con)
        if problem is not None:
            report = VerifyReport(report.checked, report.anchor_seq, problem)
    row = con.execute("SELECT seq, hash FROM span_chain ORDER BY seq DESC LIMIT 1").fetchone()
    result = report_dict(report, (int(row[0]), bytes(row[1]).hex()) if row else None)
    result["derived_checked"] = derived
    result["checked_records"] = records.checked if records is not None else 0
    record_seq, record_hash = load_record_tip(con)
    result["record_head"] = {"seq": record_seq, "hash": record_hash.hex()} if record_seq else None
    return result


def verify_file(path: Path, *, derived: bool = True, key: ChainKey | None = None) -> dict[str, Any]:
    """Verify a DuckDB file opened read-only (the collector must not hold it), and its
    ``.head`` record: missing, rewritten, or ahead of either chain is reported too."""
    if key is None and default_key_path(path).exists():
        key = load_key(default_key_path(path), create=False)
    with duckdb.connect(str(path), read_only=True) as con:
        result = verify_connection(con, derived=derived, key=key)
    # A missing head fails as at start: deleting it is how the newest rows, cut off
    # together with their links, would otherwise pass. A copy made by hand needs
    # its .head too (or an operator's --acknowledge-head).
    try:
        CommitMark(path, key).check(path, full_read=False)
    except LostCommits as exc:
        result["head_problem"] = str(exc)
        if result["ok"]:
            result["ok"] = False
            result["problem"] = {
                "kind": "head",
                "seq": None,
                "trace_id": None,
                "span_id": None,
                "message": str(exc),
            }
    result["keyed"] = key is not None
    return result


def acknowledge_head(path: Path, key: ChainKey) -> tuple[int, str]:
    """Record the file's current chain tips (keyed) in ``<db>.head``; return the span one.

    The operator's answer to a head the collector refused: only after the chains
    themselves verified (the caller checks), so the new head pins a genuine state.
    """
    with duckdb.connect(str(path), read_only=True) as con:
        head = load_head(con)
        records = load_record_tip(con)
    mark = CommitMark(path, key)
    try:
        mark.record(head.seq, head.hash, records)
    finally:
        mark.close()
    return head.seq, head.hash.hex()
