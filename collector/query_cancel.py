"""Cancel requests: recording one for a running run, and listing them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb

from collector.chain_key import ChainKey
from collector.query_filters import RunNotFound, RunNotRunning
from collector.query_snapshot import fetch_dicts
from collector.record_chain import chain_cancel_request
from collector.serialize import json_value
from instrumentation.attributes import RunStatus

__all__ = ["record_cancel", "list_cancel_requests"]


def _plain_json(record: dict[str, Any]) -> dict[str, Any]:
    return {key: json_value(value) for key, value in record.items()}


def record_cancel(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    requested_by: str | None,
    reason: str | None,
    now: datetime,
    key: ChainKey | None,
) -> dict[str, Any]:
    """Record a cancel request for a running run (writer thread, inside its transaction).

    A second request for the same run keeps the first one and returns it. A new
    request is linked into the record chain under ``key`` (the store's chain key).
    """
    row = con.execute("SELECT status FROM agent_runs WHERE id = ?", [run_id]).fetchone()
    if row is None:
        raise RunNotFound(run_id)
    if row[0] != RunStatus.RUNNING:
        raise RunNotRunning(run_id, str(row[0]))
    inserted = con.execute(
        "INSERT INTO cancel_requests (run_id, requested_at, requested_by, reason) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING RETURNING run_id",
        [run_id, now, requested_by, reason],
    ).fetchall()
    if inserted:
        chain_cancel_request(con, run_id, key)  # tamper evidence: collector/record_chain.py
    stored = fetch_dicts(
        con,
        "SELECT run_id, requested_at, requested_by, reason FROM cancel_requests WHERE run_id = ?",
        [run_id],
    )
    return _plain_json(stored[0])


def list_cancel_requests(
    cursor: duckdb.DuckDBPyConnection, run_ids: Sequence[str], *, limit: int = 1000
) -> list[dict[str, Any]]:
    """Cancel requests for ``run_ids`` (all when empty), newest first."""
    sql = "SELECT run_id, requested_at, requested_by, reason FROM cancel_requests"
    params: list[Any] = []
    if run_ids:
        sql += " WHERE run_id IN (SELECT unnest(?))"
        params.append(list(run_ids))
    sql += " ORDER BY requested_at DESC, run_id LIMIT ?"
    params.append(limit)
    return [_plain_json(row) for row in fetch_dicts(cursor, sql, params)]
