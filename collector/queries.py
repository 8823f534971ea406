"""The run list and drill-down: SQL over ``agent_runs`` and ``agent_steps``.

Functions here take a DuckDB cursor and return plain Python values; they never
touch HTTP. Every reading function works inside one read-only transaction, so a
page, its total and its cancel flags come from the same snapshot. The filters
are :mod:`collector.query_filters`, the cursor :mod:`collector.query_cursor`,
cancel requests :mod:`collector.query_cancel`; their public names are importable
from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from collector.query_cancel import list_cancel_requests, record_cancel
from collector.query_cursor import Cursor, after_cursor, decode_cursor, encode_cursor
from collector.query_filters import (
    RUN_STATUSES,
    BadRequest,
    QueryError,
    RunFilters,
    RunNotFound,
    RunNotRunning,
    parse_time,
    where_clause,
)
from collector.query_snapshot import fetch_dicts, has_step_index, in_snapshot, newest, parse_iso
from collector.serialize import run_to_json, step_to_json
from instrumentation.attributes import RunStatus
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
    "StepPage",
    "RUN_PAGE_STEPS",
    "MAX_STEPS_PAGE",
    "MAX_STEP_NUMBER",
    "parse_time",
    "encode_cursor",
    "decode_cursor",
    "after_cursor",
    "in_snapshot",
    "fetch_dicts",
    "where_clause",
    "list_runs",
    "get_run",
    "get_steps",
    "record_cancel",
    "list_cancel_requests",
]


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
    # A cursor among runs with no start time: no bound (those sort last).
    anchor = after.started_at if after is not None else newest(cursor, "agent_runs", "started_at")
    if anchor is None:
        return None
    if until is not None:
        anchor = min(anchor, until)
    for minutes in _WINDOWS_MIN:
        if anchor - datetime.min <= timedelta(minutes=minutes):
            return None  # a window reaching before year 1 bounds nothing
        bound = anchor - timedelta(minutes=minutes)
        found = cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM agent_runs r "
            f"WHERE {where} AND r.started_at >= ? LIMIT ?)",
            [*params, bound, needed],
        ).fetchone()
        if found and found[0] >= needed:
            return bound
    return None


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


@dataclass
class StepPage:
    """Steps of a run in order, and the ``after_step`` of the next page (None: no more)."""

    steps: list[dict[str, Any]]
    next_after_step: int | None


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


# A run page holds at most this many steps, and a steps answer at most
# MAX_STEPS_PAGE: a run of 20,000 steps made its page a 14 MB answer.
RUN_PAGE_STEPS = 1000
MAX_STEPS_PAGE = 1000
# step_number is an INTEGER column; an after_step past what DuckDB binds (128 bits)
# was a 500, so the route takes only what the column can hold.
MAX_STEP_NUMBER = 2**31 - 1


_STEPS = (
    "SELECT * FROM agent_steps WHERE agent_run_id = ? AND coalesce(step_number, 0) > ? {within}"
    "ORDER BY step_number NULLS LAST, started_at NULLS LAST, id LIMIT ?"
)
# Through the run id index: only the start column of the run's steps is fetched.
_STEP_STARTS = (
    "SELECT count(*), count(started_at), min(started_at), max(started_at) "
    "FROM (SELECT started_at FROM agent_steps WHERE agent_run_id = ?)"
)


def _steps_of(
    cursor: duckdb.DuckDBPyConnection,
    run_id: str,
    after_step: int,
    limit: int,
    *,
    indexed: bool = False,
) -> list[dict[str, Any]]:
    """The run's steps numbered above ``after_step``, in order, at most ``limit``.

    With the run id index (``indexed``), the start times of the run's steps are
    read through it first, and the rows are then read by a scan bounded by those
    times: DuckDB skips every row group whose ``started_at`` min/max lies outside
    them, where a scan on the run id alone reads that column over every step (its
    ids are random, so min/max skip nothing) and fetching whole rows through the
    index costs about as much. The same snapshot, so the bounds hold every step
    of the run: the same rows. A step with no start time sends it to the plain scan.
    """
    within, params = "", [run_id, after_step, limit]
    if indexed:
        row = cursor.execute(_STEP_STARTS, [run_id]).fetchone()
        steps, dated, first, last = row or (0, 0, None, None)
        if not steps:
            return []
        if dated == steps:
            within = "AND started_at BETWEEN ? AND ? "
            params = [run_id, after_step, first, last, limit]
    rows = fetch_dicts(cursor, _STEPS.format(within=within), params)
    return [step_to_json(row) for row in rows]


# Where a run's start lies, from its first step's: a step may start up to
# _STEP_EARLY before its run (clocks of other hosts); a run whose first step
# came more than _RUN_IDLE after its start is looked up without the window.
_STEP_EARLY = timedelta(hours=1)
_RUN_IDLE = timedelta(days=1)


def _start_window(steps: list[dict[str, Any]]) -> tuple[datetime, datetime] | None:
    starts = [moment for step in steps if (moment := parse_iso(step.get("started_at")))]
    if not starts:
        return None
    first = min(starts)
    return first - _RUN_IDLE, first + _STEP_EARLY


def get_run(
    cursor: duckdb.DuckDBPyConnection, run_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """One run with its first RUN_PAGE_STEPS steps in step order; RunNotFound when unknown.

    ``steps_truncated`` says whether more steps follow (``/steps`` pages through them).
    """
    cap = RUN_PAGE_STEPS

    def read() -> dict[str, Any]:
        inner = "SELECT r.* FROM agent_runs r WHERE r.id = ?"
        steps = rows = None
        indexed = has_step_index(cursor)
        if not indexed:
            # Over a lake (no index) a run found by id alone costs a scan of every
            # run's id; its steps (by run id, which their files are sorted by) say
            # when it ran, and a window of start times skips all but a few row groups.
            steps = _steps_of(cursor, run_id, 0, cap + 1)
            window = _start_window(steps)
            if window is not None:
                within = f"{inner} AND r.started_at BETWEEN ? AND ?"
                rows = fetch_dicts(cursor, RUN_SELECT.format(inner=within), [run_id, *window])
        if not rows:
            rows = fetch_dicts(cursor, RUN_SELECT.format(inner=inner), [run_id])
        if not rows:
            raise RunNotFound(run_id)
        run = with_live_fields(rows[0], now or utc_now())
        if steps is None:
            steps = _steps_of(cursor, run_id, 0, cap + 1, indexed=indexed)
        run["steps_truncated"] = len(steps) > cap
        run["steps"] = steps[:cap]
        return run

    return in_snapshot(cursor, read)


def get_steps(
    cursor: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    after_step: int = 0,
    limit: int = MAX_STEPS_PAGE,
) -> StepPage:
    """At most ``limit`` steps numbered above ``after_step``, in order, and the number to ask
    after for the next ones (None when none follow); RunNotFound when the run is unknown."""

    def read() -> StepPage:
        steps = _steps_of(cursor, run_id, after_step, limit + 1, indexed=has_step_index(cursor))
        if len(steps) > limit:
            steps = steps[:limit]
            # Step numbers are unique within a run (row_number at ingest).
            return StepPage(steps, int(steps[-1].get("step_number") or 0))
        if not steps:
            cursor.execute(
                "SELECT 1 FROM agent_runs WHERE id = ? UNION ALL "
                "SELECT 1 FROM agent_steps WHERE agent_run_id = ? LIMIT 1",
                [run_id, run_id],
            )
            if cursor.fetchone() is None:
                raise RunNotFound(run_id)
        return StepPage(steps, None)

    return in_snapshot(cursor, read)
