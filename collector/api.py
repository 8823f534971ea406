"""REST query API: runs, steps, stats, cancel, read-only SQL, Parquet export, backup.

Routes are plain ``def`` functions, which FastAPI runs in its thread pool:
DuckDB never runs on the event loop. Reads go through ``store.read`` (a fresh
cursor each), the one write (a cancel request) through ``store.write`` on the
writer thread. Errors are ``{"detail": "..."}`` with 400, 404, 409, 429 or 503.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from collector import queries
from collector.api_annotations import attach_costs, attach_list_figures, figures_in_read
from collector.api_filters import RunFilterParams
from collector.api_models import RunPage, RunWithSteps, StepPageModel
from collector.background_read import read_in_background
from collector.commit_mark import CommitMark
from collector.db_backup import take_backup
from collector.download_slot import SlotFileResponse, give_download_slot, take_download_slot
from collector.parquet_export import pack_tar, take_snapshot
from collector.query_sql import SqlFailed, SqlTimeout
from collector.query_stats import BUCKETS, run_stats
from collector.run_id_path import run_id_of
from collector.settings import Settings
from collector.sql_guard import SqlRefused, check_read_only
from collector.sql_sandbox import SandboxUnavailable, SqlSandbox
from collector.store import RunStore, StoreUnavailable
from collector.sub_run_totals import sub_runs_of, totals_of
from instrumentation.clock import utc_now

__all__ = ["router", "MAX_PAGE", "SQL_CONCURRENCY", "HEAD_HEADER"]

HEAD_HEADER = "X-Agent-Audit-Head"

logger = logging.getLogger(__name__)

router = APIRouter()

MAX_PAGE = 1000
# Deeper pages are read with the cursor; an offset past 2^63 overflowed DuckDB.
MAX_OFFSET = 1_000_000
# Ad-hoc SQL can use every core for its whole time limit; two at once is plenty.
SQL_CONCURRENCY = 2
_sql_slots = threading.BoundedSemaphore(SQL_CONCURRENCY)
# Checking parses the query in this process (seconds for a long one): at most this many
# checks at once, apart from the queries the worker runs, so that a query the check
# refuses is answered 400 even while both run slots are held.
_sql_checks = threading.BoundedSemaphore(SQL_CONCURRENCY)


def _store(request: Request) -> RunStore:
    return request.app.state.store  # type: ignore[no-any-return]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(status_code=400, detail=str(exc))


# --- runs ---------------------------------------------------------------------------
@router.get(
    "/agent/runs",
    summary="List runs, newest first",
    description=(
        "Runs matching every filter given, ordered by `started_at` descending then `id`. "
        "Page with `next`: pass it back as `cursor`; pages never repeat or skip a run while "
        "new runs arrive. Each run has every `agent_runs` column plus `step_count`, "
        "`last_activity_at`, `elapsed_ms` (for a running run: now minus `started_at`), "
        "`cancel_requested_at` and `cancel_requested_by`. Times are ISO 8601 UTC ending in Z."
    ),
    tags=["runs"],
    response_model=None,
    responses={200: {"model": RunPage}},
)
def list_runs_route(
    request: Request,
    filter_query: RunFilterParams,
    limit: Annotated[int, Query(description=f"Page size, 1 to {MAX_PAGE}.")] = 50,
    cursor: Annotated[str | None, Query(description="`next` of the previous page.")] = None,
    offset: Annotated[
        int, Query(description="Rows to skip (ignored with `cursor`; cursors are stable).")
    ] = 0,
) -> JSONResponse:
    filters = filter_query.to_filters()
    if not 1 <= limit <= MAX_PAGE:
        raise HTTPException(400, f"limit must be between 1 and {MAX_PAGE}")
    if not 0 <= offset <= MAX_OFFSET:
        raise HTTPException(
            400, f"offset must be between 0 and {MAX_OFFSET:,}; page further with `cursor`"
        )
    try:
        after = queries.decode_cursor(cursor) if cursor else None
    except queries.BadRequest as exc:
        raise _bad(exc) from None
    search = getattr(request.app.state, "search", None)

    def read(cur: duckdb.DuckDBPyConnection) -> tuple[queries.RunPage, bool]:
        page = queries.list_runs(
            cur, filters, limit=limit, after=after, offset=offset, search=search
        )
        return page, figures_in_read(cur, page.runs, page=True)

    page, figured = _store(request).read(read)
    if not figured:
        attach_list_figures(request, page.runs)
    # The rows are JSON-ready already (collector/serialize.py): no encoder pass over them.
    return JSONResponse({"runs": page.runs, "total": page.total, "next": page.next})


@router.get(
    "/agent/runs/stats",
    summary="Aggregates over runs",
    description=(
        "Same filters as the run list. `bucket` is `hour` or `day`; left out, it is `hour` "
        "for ranges up to three days and `day` beyond. Percentiles are interpolated "
        "(`quantile_cont`). `error_rate` = runs failed or lost / runs that have ended. "
        "`top_tools` ranks tools by calls, with errors and p95 duration."
    ),
    tags=["runs"],
)
def stats_route(
    request: Request,
    filter_query: RunFilterParams,
    bucket: Annotated[
        str | None, Query(description="`hour` or `day`; automatic when left out.")
    ] = None,
    top: Annotated[int, Query(description="How many tools `top_tools` lists (1-100).")] = 10,
) -> dict[str, Any]:
    filters = filter_query.to_filters()
    if bucket is not None and bucket not in BUCKETS:
        raise HTTPException(400, f"bucket must be one of {', '.join(BUCKETS)}")
    if not 1 <= top <= 100:
        raise HTTPException(400, "top must be between 1 and 100")
    store = _store(request)
    return store.read(
        lambda cur: run_stats(
            cur,
            filters,
            bucket=bucket or None,
            top_tools=top,
            search=getattr(request.app.state, "search", None),
            background=partial(read_in_background, store),
        )
    )


@router.get(
    "/agent/runs/{run_id}",
    summary="One run with its first 1,000 steps",
    description=(
        "The run object of the list plus `steps` in step order: the first 1,000 at most; "
        "`steps_truncated` is true when more follow (page through them with `/steps`). "
        "`cost_usd` is the run's, over all its steps. 404 when unknown."
    ),
    tags=["runs"],
    responses={200: {"model": RunWithSteps}, 404: {"description": "No run has this id"}},
)
def get_run_route(request: Request, run_id: str) -> dict[str, Any]:
    run_id = run_id_of(request, run_id)

    def read(
        cur: duckdb.DuckDBPyConnection,
    ) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
        run = queries.get_run(cur, run_id)
        sub_runs = sub_runs_of(cur, run, utc_now())
        costed = figures_in_read(cur, [run], page=False)
        return run, sub_runs, costed and figures_in_read(cur, sub_runs, page=True)

    try:
        run, sub_runs, costed = _store(request).read(read)
    except queries.RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    if not costed:
        attach_costs(request, [run])
        attach_list_figures(request, sub_runs)
    run["sub_run_totals"] = totals_of(sub_runs)
    return run


@router.get(
    "/agent/runs/{run_id}/steps",
    summary="A run's steps, a page at a time, optionally only the newer ones",
    description=(
        "At most `limit` steps with `step_number` greater than `after_step`, in order, and "
        "`next_after_step`: the `after_step` that asks for the next page, null when no step "
        "follows. A live view polls with the last number it has. 404 when the run is unknown."
    ),
    tags=["runs"],
    responses={
        200: {"model": StepPageModel},
        404: {"description": "No run has this id"},
        400: {"description": "`limit` outside 1..1000, or `after_step` outside 0..2^31-1"},
    },
)
def get_steps_route(
    request: Request,
    run_id: str,
    after_step: Annotated[
        int,
        Query(
            ge=0,
            le=queries.MAX_STEP_NUMBER,
            description="Return steps numbered above this (0 for all).",
        ),
    ] = 0,
    limit: Annotated[
        int,
        Query(ge=1, le=queries.MAX_STEPS_PAGE, description="Most steps returned (1..1000)."),
    ] = queries.MAX_STEPS_PAGE,
) -> dict[str, Any]:
    run_id = run_id_of(request, run_id)
    try:
        page = _store(request).read(
            lambda cur: queries.get_steps(cur, run_id, after_step=after_step, limit=limit)
        )
    except queries.RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return {"steps": page.steps, "next_after_step": page.next_after_step}


# --- cancel -------------------------------------------------------------------------
class CancelRequest(BaseModel):
    """Body of a cancel request; both fields are optional."""

    requested_by: str | None = Field(default=None, max_length=200, description="Who asks.")
    reason: str | None = Field(default=None, max_length=2000, description="Why.")


@router.post(
    "/agent/runs/{run_id}/cancel",
    status_code=202,
    summary="Ask a running agent to stop",
    description=(
        "Records a cancel request; the agent sees it at its next step boundary and ends "
        "`cancelled`. A repeated request keeps the first. 404 unknown run, 409 not running."
    ),
    tags=["cancel"],
    responses={404: {"description": "Unknown run"}, 409: {"description": "Not running"}},
)
def cancel_route(
    request: Request, run_id: str, body: CancelRequest | None = None
) -> dict[str, Any]:
    run_id = run_id_of(request, run_id)
    body = body or CancelRequest()
    requested_by = body.requested_by or "api"
    try:
        store = _store(request)
        stored = store.write(
            lambda con: queries.record_cancel(
                con,
                run_id,
                requested_by=requested_by,
                reason=body.reason,
                now=utc_now(),
                key=store.chain_key,
            )
        )
    except queries.RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except queries.RunNotRunning as exc:
        raise HTTPException(409, str(exc)) from None
    except StoreUnavailable as exc:
        raise HTTPException(503, f"cancel not recorded, retry: {exc}") from None
    return {k: stored[k] for k in ("run_id", "requested_at", "requested_by", "reason")}


@router.get(
    "/agent/cancel-requests",
    summary="Recorded cancel requests",
    description="For the given `run_id`s (repeat the parameter), or the latest 1000.",
    tags=["cancel"],
)
def cancel_requests_route(
    request: Request,
    run_id: Annotated[list[str] | None, Query(description="Run id; repeat for several.")] = None,
) -> dict[str, Any]:
    ids = [r for r in (run_id or []) if r]
    if len(ids) > MAX_PAGE:
        raise HTTPException(400, f"at most {MAX_PAGE} run_id values")
    rows = _store(request).read(lambda cur: queries.list_cancel_requests(cur, ids))
    return {"requests": rows}


# --- SQL ------------------------------------------------------------------------------
class SqlQuery(BaseModel):
    """Body of ``POST /sql``."""

    sql: str = Field(description="One read-only statement.", max_length=100_000)
    max_rows: int | None = Field(
        default=None, ge=1, description="Row cap; at most the server's AGENT_AUDIT_SQL_MAX_ROWS."
    )


@router.post(
    "/sql",
    summary="Run one read-only SQL statement",
    description=(
        "SELECT (with WITH), DESCRIBE, SHOW, SUMMARIZE or EXPLAIN over `agent_runs`, "
        "`agent_steps`, `spans` and `cancel_requests`, using functions on an allowlist. "
        "Checked against DuckDB's parse tree, then run in a separate worker process on a "
        "copy of those tables, with no file or network access; anything else is refused "
        "with 400 and the reason. Rows or bytes beyond the caps are dropped (`truncated`, "
        "`truncated_by`); a query past the time limit is interrupted (400); a query that "
        "crashes the worker gets 503 and a fresh worker serves the next one."
    ),
    tags=["sql"],
    responses={400: {"description": "Refused, failed or interrupted; `detail` says why"}},
)
def sql_route(request: Request, body: SqlQuery) -> dict[str, Any]:
    settings = _settings(request)
    max_rows = min(body.max_rows or settings.sql_max_rows, settings.sql_max_rows)
    # Checked first, in a slot of its own: checking a 100,000-character query parses it
    # in this process for seconds, and a flood of them must not take every core.
    if not _sql_checks.acquire(blocking=False):
        raise HTTPException(
            429, f"{SQL_CONCURRENCY} SQL queries are already being checked; retry shortly"
        )
    try:
        checked = check_read_only(body.sql)
    except SqlRefused as exc:
        raise HTTPException(400, exc.reason) from None
    finally:
        _sql_checks.release()
    if not _sql_slots.acquire(blocking=False):
        raise HTTPException(
            429, f"{SQL_CONCURRENCY} SQL queries are already running; retry shortly"
        )
    sandbox: SqlSandbox = request.app.state.sql_sandbox
    try:
        return sandbox.run(checked, max_rows=max_rows, timeout_s=settings.sql_timeout_s)
    except SandboxUnavailable as exc:
        retry = str(exc.retry_after_s)
        raise HTTPException(503, str(exc), headers={"Retry-After": retry}) from None
    except (SqlTimeout, SqlFailed) as exc:
        raise HTTPException(400, str(exc)) from None
    finally:
        _sql_slots.release()


# --- export ---------------------------------------------------------------------------
@router.get(
    "/export",
    summary="Snapshot of runs, steps and spans as Parquet (a tar stream)",
    description=(
        "One read-only transaction: `runs.parquet`, `steps.parquet`, `spans.parquet`, "
        "`cancel_requests.parquet` and `manifest.json`, packed in an uncompressed tar. "
        "`agent-audit export --format parquet DIR` unpacks it into DIR. One export at a "
        "time (429 while another runs)."
    ),
    tags=["export"],
    response_class=FileResponse,
)
def export_route(
    request: Request,
    format: Annotated[Literal["parquet"], Query(description="Only parquet.")] = "parquet",  # noqa: A002
) -> FileResponse:
    # An export or a backup reads every table: one at a time (collector/download_slot.py).
    take_download_slot("an export")
    try:
        snapshot = _store(request).read(lambda cur: take_snapshot(cur, taken_at=utc_now()))
        try:
            tar_path = pack_tar(snapshot)
        except BaseException:
            snapshot.cleanup()
            raise
    except BaseException:
        give_download_slot()
        raise
    stamp = snapshot.taken_at.strftime("%Y%m%dT%H%M%SZ")
    return SlotFileResponse(
        tar_path,
        media_type="application/x-tar",
        filename=f"agent-audit-{stamp}.tar",
        background=BackgroundTask(snapshot.cleanup),
    )


@router.get(
    "/backup",
    summary="A consistent copy of the whole database as a DuckDB file",
    description=(
        "One read-only transaction copies every table (spans, hash chain, runs, steps, "
        "cancel requests, retention log) into a new DuckDB file, streamed back. A collector "
        "can serve the copy and `agent-audit verify --db` checks it. "
        "`agent-audit backup FILE` saves it. One export or backup at a time (429 otherwise)."
    ),
    tags=["export"],
    response_class=FileResponse,
)
def backup_route(request: Request) -> FileResponse:
    take_download_slot("an export or backup")
    try:
        # This collector's own file (in lake mode the lake has its own backups).
        backup = _store(request).read_local(lambda cur: take_backup(cur, taken_at=utc_now()))
    except BaseException:
        give_download_slot()
        raise
    try:
        stamp = backup.taken_at.strftime("%Y%m%dT%H%M%SZ")
        store = _store(request)
        # The copy's keyed head (both chains' tips), for the client to save as
        # <file>.head: a restored backup then starts like the original (same key).
        with duckdb.connect(str(backup.path), read_only=True) as copy:
            head_line = CommitMark(store.db_path, store.chain_key).line_of(copy)
    except BaseException:
        backup.cleanup()
        give_download_slot()
        raise
    return SlotFileResponse(
        backup.path,
        media_type="application/octet-stream",
        filename=f"agent-audit-{stamp}.duckdb",
        background=BackgroundTask(backup.cleanup),
        headers={HEAD_HEADER: head_line},
    )
