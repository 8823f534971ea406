"""SQL for the run list, drill-down and cancel requests.

Functions here take a DuckDB cursor (or the writer's connection for
:func:`record_cancel`) and return plain Python values; they never touch HTTP.
Every reading function works inside one read-only transaction, so a page, its
total and its cancel flags come from the same snapshot.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from collector.annotations import annotation_condition
from collector.chain_key import ChainKey
from collector.errors import CollectorError
from collector.record_chain import chain_cancel_request
from collector.serialize import json_value, rows_to_dicts, run_to_json, step_to_json
from instrumentation.attributes import RUN_STATUSES, RunStatus
from instrumentation.clock import utc_now

if TYPE_CHECKING:
    from collector.search_index import SearchIndex

__all__ = [
    "RUN_STATUSES",
    "QueryError",
    "BadRequest",
    "RunNotFound",
    "RunNotRunning",
    "RunFilters",
    "Cursor",
    "RunPage",
    "parse_time",
    "encode_cursor",
    "decode_cursor",
    "in_snapshot",
    "where_clause",
    "list_runs",
    "get_run",
    "get_steps",
    "record_cancel",
    "list_cancel_requests",
]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1)


class QueryError(CollectorError):
    """Root of the query layer's errors.

    QueryError
    ├── BadRequest      a filter, cursor or time the client sent is not valid
    ├── RunNotFound     no run has this id
    └── RunNotRunning   the run has ended, so it cannot be cancelled
    """


class BadRequest(QueryError):
    """A parameter is not valid; the message says which and why."""


class RunNotFound(QueryError):
    """No run has the id asked for."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class RunNotRunning(QueryError):
    """Cancelling a run that is not running."""

    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(f"run {run_id!r} is not running (status {status})")
        self.run_id = run_id
        self.status = status


def parse_time(name: str, text: str | None) -> datetime | None:
    """ISO 8601 (``Z``, an offset, or none for UTC; a date alone is midnight) -> naive UTC."""
    if text is None or text.strip() == "":
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(
            f"{name}={text!r} is not an ISO 8601 time (e.g. 2025-01-31T12:00:00Z)"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


@dataclass(frozen=True, kw_only=True)
class RunFilters:
    """The filters shared by the run list and the stats; empty fields filter nothing."""

    statuses: tuple[str, ...] = ()
    source: str | None = None
    model: str | None = None  # model_used or model_requested
    agent_name: str | None = None
    since: datetime | None = None  # started_at >= since (naive UTC)
    until: datetime | None = None  # started_at < until
    text: str | None = None  # in task or final answer, or a run id prefix
    tool: str | None = None  # runs with a step calling this tool
    annotation: str | None = None  # good / bad (latest verdict), any, or a label
    has_error: bool = False  # failed or lost, an error on the run, or a step that failed
    parent_run_id: str | None = None  # the sub-agent runs this run started

    def __post_init__(self) -> None:
        unknown = [s for s in self.statuses if s not in RUN_STATUSES]
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise BadRequest(f"unknown status {names}; use one of {', '.join(RUN_STATUSES)}")
        if self.since and self.until and self.since >= self.until:
            raise BadRequest("since must be earlier than until")


def where_clause(filters: RunFilters, alias: str = "r") -> tuple[str, list[Any]]:
    """``WHERE`` conditions (joined with AND, or ``TRUE``) and their parameters."""
    a = alias
    parts: list[str] = []
    params: list[Any] = []
    if filters.statuses:
        parts.append(f"{a}.status IN ({', '.join('?' for _ in filters.statuses)})")
        params.extend(filters.statuses)
    for column, value in (
        ("source", filters.source),
        ("agent_name", filters.agent_name),
        ("parent_run_id", filters.parent_run_id),
    ):
        if value:
            parts.append(f"{a}.{column} = ?")
            params.append(value)
    if filters.model:
        parts.append(f"(? IN ({a}.model_used, {a}.model_requested))")
        params.append(filters.model)
    if filters.since:
        parts.append(f"{a}.started_at >= ?")
        params.append(filters.since)
    if filters.until:
        parts.append(f"{a}.started_at < ?")
        params.append(filters.until)
    if filters.text:
        text_part, text_params = _text_match(filters.text, a)
        parts.append(text_part)
        params.extend(text_params)
    if filters.has_error:
        # A step may fail and the agent recover: such runs count too.
        parts.append(
            f"({a}.status IN ('failed', 'lost') OR {a}.error IS NOT NULL OR {a}.id IN "
            "(SELECT agent_run_id FROM agent_steps WHERE status = 'error'))"
        )
    if filters.annotation:
        annotated, annotated_params = annotation_condition(filters.annotation, a)
        parts.append(annotated)
        params.extend(annotated_params)
    if filters.tool:
        # tool_names is kept on the run row by the ingest (no join over every step).
        parts.append(f"list_contains({a}.tool_names, ?)")
        params.append(filters.tool)
    return (" AND ".join(parts) or "TRUE"), params


def _text_match(text: str, a: str) -> tuple[str, list[Any]]:
    """Runs whose task or final answer contains ``text`` (any case), or whose id starts with it.

    A plain ILIKE '%text%' (no ESCAPE clause) scans fastest; text holding a LIKE
    wildcard or backslash goes through contains(lower()), which needs no escaping.
    """
    if any(ch in text for ch in "%_\\"):
        part = f"(contains(lower({a}.task), ?) OR contains(lower({a}.final_answer), ?)"
        needle = text.lower()
        params: list[Any] = [needle, needle]
    else:
        part = f"({a}.task ILIKE ? OR {a}.final_answer ILIKE ?"
        params = [f"%{text}%", f"%{text}%"]
    return f"{part} OR starts_with({a}.id, ?))", [*params, text.lower()]


# --- keyset cursor ------------------------------------------------------------------
@dataclass(frozen=True)
class Cursor:
    """Position after the last run of a page: (started_at, id); started_at may be NULL."""

    started_at: datetime | None
    run_id: str


def encode_cursor(started_at: datetime | None, run_id: str) -> str:
    """Opaque text for the next page (base64url of ``[micros_or_null, id]``)."""
    micros = None
    if started_at is not None:
        micros = (started_at - _EPOCH) // timedelta(microseconds=1)
    raw = json.dumps([micros, run_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The position a cursor from :func:`encode_cursor` stands for; BadRequest otherwise."""
    try:
        padded = text + "=" * (-len(text) % 4)
        micros, run_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(run_id, str) or not (micros is None or isinstance(micros, int)):
            raise ValueError("wrong types")
        started = None if micros is None else _EPOCH + timedelta(microseconds=micros)
    except (ValueError, TypeError, binascii.Error, UnicodeError, OverflowError):
        raise BadRequest("cursor is not valid; use the 'next' value of a previous page") from None
    return Cursor(started, run_id)


def after_cursor(cursor: Cursor, alias: str = "r") -> tuple[str, list[Any]]:
    # Order is started_at DESC NULLS LAST, id DESC: the next page holds what sorts after.
    a = alias
    if cursor.started_at is None:
        return f"({a}.started_at IS NULL AND {a}.id < ?)", [cursor.run_id]
    return (
        f"({a}.started_at < ? OR ({a}.started_at = ? AND {a}.id < ?) OR {a}.started_at IS NULL)",
        [cursor.started_at, cursor.started_at, cursor.run_id],
    )


# --- reading ------------------------------------------------------------------------
# How far back from the newest run (or the cursor) a page is looked for, in minutes:
# each window is tried in turn until it holds the page.
_WINDOWS_MIN = (15, 120, 960, 7680, 61440, 491520)


def _page_bound(
    cursor: duckdb.DuckDBPyConnection,
    where: str,
    params: Sequence[Any],
    after: Cursor | None,
    needed: int,
    until: datetime | None = None,
) -> datetime | None:
    """A start time at or after which the page's ``needed`` runs all lie; None if none is known.

    Runs are stored about in arrival order, so DuckDB skips the row groups that
    end before a bound by their min/max of ``started_at`` instead of reading
    every column of every run for the sort (at 1M runs: the whole table).
    A window is tried only if the smaller one held too few runs.
    """
    anchor: datetime | None
    if after is not None:
        anchor = after.started_at
    else:
        row = cursor.execute("SELECT max(started_at) FROM agent_runs").fetchone()
        anchor = row[0] if row else None
    if anchor is None:
        return None
    if until is not None:
        anchor = min(anchor, until)
    for minutes in _WINDOWS_MIN:
        bound = anchor - timedelta(minutes=minutes)
        found = cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM agent_runs r "
            f"WHERE {where} AND r.started_at >= ? LIMIT ?)",
            [*params, bound, needed],
        ).fetchone()
        if found and found[0] >= needed:
            return bound
    return None


def in_snapshot(cursor: duckdb.DuckDBPyConnection, fn: Callable[[], T]) -> T:
    """Run ``fn`` inside one read-only transaction on ``cursor``."""
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    try:
        return fn()
    finally:
        cursor.execute("ROLLBACK")


def fetch_dicts(
    cursor: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    cursor.execute(sql, list(params))
    columns = [d[0] for d in cursor.description or []]
    return rows_to_dicts(columns, cursor.fetchall())


RUN_SELECT = """
    SELECT page.*, page.total_steps AS step_count,
           c.requested_at AS cancel_requested_at, c.requested_by AS cancel_requested_by
    FROM ({inner}) page LEFT JOIN cancel_requests c ON c.run_id = page.id
    ORDER BY page.started_at DESC NULLS LAST, page.id DESC
"""


def with_live_fields(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    started = record.get("started_at")
    if record.get("status") == RunStatus.RUNNING and started is not None:
        record["elapsed_ms"] = max(0.0, (now - started) / timedelta(milliseconds=1))
    elif record.get("duration_ms") is not None:
        record["elapsed_ms"] = record["duration_ms"]
    elif started is not None and record.get("completed_at") is not None:
        record["elapsed_ms"] = (record["completed_at"] - started) / timedelta(milliseconds=1)
    else:
        record["elapsed_ms"] = None
    if record.get("last_activity_at") is None:
        record["last_activity_at"] = record.get("updated_at")
    return run_to_json(record)


@dataclass
class RunPage:
    """One page of runs as JSON-ready dicts, the total matching, and the next cursor."""

    runs: list[dict[str, Any]]
    total: int
    next: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def list_runs(
    cursor: duckdb.DuckDBPyConnection,
    filters: RunFilters,
    *,
    limit: int = 50,
    after: Cursor | None = None,
    offset: int = 0,
    now: datetime | None = None,
    search: SearchIndex | None = None,
) -> RunPage:
    """Newest first (started_at DESC NULLS LAST, id DESC), ``limit`` runs after ``after``.

    With ``search``, ``q``, ``has_error``, ``tool`` and ``annotation`` are answered
    with that index when it can (:mod:`collector.query_search`); otherwise in SQL
    (``q`` a substring scan of task and final answer).
    """
    if search is not None and (
        filters.text or filters.has_error or filters.tool or filters.annotation
    ):
        from collector.query_search import search_page

        moment = now or utc_now()
        page = in_snapshot(
            cursor,
            lambda: search_page(
                cursor, search, filters, limit=limit, after=after, offset=offset, now=moment
            ),
        )
        if page is not None:
            return page
    where, params = where_clause(filters)
    page_where, page_params = where, list(params)
    if after is not None:
        condition, extra = after_cursor(after)
        page_where = f"{where} AND {condition}"
        page_params += extra

    def read() -> RunPage:
        bound = _page_bound(
            cursor, page_where, page_params, after, offset + limit + 1, filters.until
        )
        bounded_where, bounded_params = page_where, list(page_params)
        if bound is not None:
            bounded_where += " AND r.started_at >= ?"
            bounded_params.append(bound)
        inner = (
            f"SELECT r.* FROM agent_runs r WHERE {bounded_where} "
            "ORDER BY r.started_at DESC NULLS LAST, r.id DESC LIMIT ? OFFSET ?"
        )
        bounded_params += [limit + 1, 0 if after is not None else offset]
        rows = fetch_dicts(cursor, RUN_SELECT.format(inner=inner), bounded_params)
        cursor.execute(f"SELECT count(*) FROM agent_runs r WHERE {where}", params)
        total_row = cursor.fetchone()
        moment = now or utc_now()
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            encode_cursor(rows[-1]["started_at"], rows[-1]["id"]) if has_more and rows else None
        )
        return RunPage(
            runs=[with_live_fields(row, moment) for row in rows],
            total=int(total_row[0]) if total_row else 0,
            next=next_cursor,
        )

    return in_snapshot(cursor, read)


def _steps_of(
    cursor: duckdb.DuckDBPyConnection, run_id: str, after_step: int
) -> list[dict[str, Any]]:
    rows = fetch_dicts(
        cursor,
        "SELECT * FROM agent_steps WHERE agent_run_id = ? AND coalesce(step_number, 0) > ? "
        "ORDER BY step_number NULLS LAST, started_at NULLS LAST, id",
        [run_id, after_step],
    )
    return [step_to_json(row) for row in rows]


def get_run(
    cursor: duckdb.DuckDBPyConnection, run_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """One run with its steps in step order; RunNotFound when unknown."""

    def read() -> dict[str, Any]:
        inner = "SELECT r.* FROM agent_runs r WHERE r.id = ?"
        rows = fetch_dicts(cursor, RUN_SELECT.format(inner=inner), [run_id])
        if not rows:
            raise RunNotFound(run_id)
        run = with_live_fields(rows[0], now or utc_now())
        run["steps"] = _steps_of(cursor, run_id, 0)
        return run

    return in_snapshot(cursor, read)


def get_steps(
    cursor: duckdb.DuckDBPyConnection, run_id: str, *, after_step: int = 0
) -> list[dict[str, Any]]:
    """Steps numbered above ``after_step``; RunNotFound when the run is unknown."""

    def read() -> list[dict[str, Any]]:
        steps = _steps_of(cursor, run_id, after_step)
        if not steps:
            cursor.execute(
                "SELECT 1 FROM agent_runs WHERE id = ? UNION ALL "
                "SELECT 1 FROM agent_steps WHERE agent_run_id = ? LIMIT 1",
                [run_id, run_id],
            )
            if cursor.fetchone() is None:
                raise RunNotFound(run_id)
        return steps

    return in_snapshot(cursor, read)


# --- cancel requests ----------------------------------------------------------------
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
