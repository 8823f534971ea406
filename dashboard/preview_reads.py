"""What each page's preview shows, read from the API as the page itself reads it.

:func:`preview_for` maps a page document's path and query to the preview's HTML
(dashboard/page_preview.py, dashboard/preview_pages.py). Its reads go through
the dashboard's shared cache (dashboard/views/api_reads.py) with the same keys
as the page's own, so the Streamlit session that starts a moment later reuses
the answers instead of asking again. It runs in a worker thread (it waits for
the API).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from dashboard import routes
from dashboard.client import AuditClient, ClientError, NotFound, Record, RunFilters
from dashboard.page_preview import run_preview, runs_preview
from dashboard.preview_pages import (
    CompareSide,
    compare_preview,
    costs_preview,
    live_preview,
    sql_preview,
    stats_preview,
)
from dashboard.views import api_reads, runs
from dashboard.views.connection import client
from instrumentation.attributes import RunStatus

__all__ = ["PREVIEW_PAGES", "page_of", "preview_for"]

logger = logging.getLogger(__name__)

Query = Mapping[str, Sequence[str]]


def _last(query: Query, name: str) -> str:
    # The last of repeated values, as st.query_params gives it.
    values = query.get(name) or []
    return values[-1] if values else ""


def _sorted_steps(record: Record) -> list[Record]:
    return sorted(
        record.pop("steps", None) or [],
        key=lambda s: (int(s.get("step_number") or 0), str(s.get("started_at") or "")),
    )


def _runs(api: AuditClient, query: Query) -> str:
    api_reads.prefetch_filter_choices(api)  # the page's filter boxes, read meanwhile
    filters = runs.filters_from_query(query)
    if filters.source or filters.model:
        # The page's boxes drop a value they do not offer (Streamlit ignores an invalid
        # bound query parameter), and so does the preview.
        sources, models = api_reads.filter_options(api)
        filters = replace(
            filters,
            source=filters.source if filters.source in sources else None,
            model=filters.model if filters.model in models else None,
        )
    found = api_reads.runs_page(api, filters, limit=runs.PAGE_SIZE)
    return runs_preview(found.runs, found.total)


def _run(api: AuditClient, query: Query) -> str | None:
    run_id = _last(query, "run")
    if not run_id:
        return None
    record = api_reads.run(api, run_id)
    steps = _sorted_steps(record)
    return run_preview(record, steps)


def _compare(api: AuditClient, query: Query) -> str:
    ids = [_last(query, side).strip() for side in ("a", "b")]
    for run_id in ids:
        if run_id:
            api_reads.prefetch_run(api, run_id)  # both runs are read at once

    def side(run_id: str) -> CompareSide | None:
        if not run_id:
            return None
        try:
            record = api_reads.run(api, run_id)
        except NotFound:
            return run_id, None
        # In step order, as the page aligns them (compare_runs._load).
        steps = sorted(
            record.pop("steps", None) or [], key=lambda s: int(s.get("step_number") or 0)
        )
        return run_id, (record, steps)

    return compare_preview(side(ids[0]), side(ids[1]))


def _live(api: AuditClient, _query: Query) -> str:
    from dashboard.views import live  # its tables need pandas: only when asked

    everything = RunFilters()
    recent_limit = live.FINISHED_SHOWN + live.RUNNING_LIMIT
    # The same reads, keys and order as the page's board (views/live.py).
    api_reads.prefetch_runs_page(api, everything, limit=recent_limit)
    running = api_reads.runs_page(
        api, RunFilters(statuses=(RunStatus.RUNNING,)), limit=live.RUNNING_LIMIT
    )
    for run in running.runs:
        api_reads.prefetch_steps(api, str(run["id"]), after_step=live.after_step(run))
    latest = {
        str(run["id"]): api_reads.steps(api, str(run["id"]), after_step=live.after_step(run))[
            -live.RECENT_STEPS :
        ]
        for run in running.runs
    }
    recent = api_reads.runs_page(api, everything, limit=recent_limit)
    finished = [r for r in recent.runs if r.get("status") != RunStatus.RUNNING]
    return live_preview(running.runs, running.total, latest, finished[: live.FINISHED_SHOWN])


def _stats(api: AuditClient, query: Query) -> str:
    # The page's filters start empty in a new tab; only the view is in the URL.
    bucket = "day"  # views/stats.bucket_for with no dates
    # What the page reads besides (its filter boxes, the duration histogram), meanwhile.
    api_reads.prefetch_filter_choices(api, agents=False)
    if _last(query, "view") != "costs":
        api_reads.prefetch_duration_sample(api, RunFilters())
    if _last(query, "view") == "costs":
        return costs_preview(api_reads.costs(api, RunFilters(), bucket=bucket))
    return stats_preview(api_reads.stats(api, RunFilters(), bucket=bucket), bucket)


def _sql(_api: AuditClient, _query: Query) -> str:
    return sql_preview()  # the editor as it opens: no read, and no query is run


_PREVIEWS: dict[str, Callable[[AuditClient, Query], str | None]] = {
    "": _runs,
    routes.RUNS.url_path: _runs,
    routes.RUN.url_path: _run,
    routes.COMPARE.url_path: _compare,
    routes.LIVE.url_path: _live,
    routes.STATS.url_path: _stats,
    routes.SQL.url_path: _sql,
}
PREVIEW_PAGES = frozenset(_PREVIEWS)


def page_of(path: str) -> str:
    """The page a document path names: its last segment (``""`` for the root)."""
    return path.rstrip("/").rsplit("/", 1)[-1] if path.strip("/") else ""


def preview_for(path: str, query: Query) -> str | None:
    """The preview's HTML for a page, read through the shared cache; None: no preview."""
    show = _PREVIEWS.get(page_of(path))
    if show is None:
        return None
    try:
        return show(client(), query)
    except ClientError as exc:  # the page itself will say what is wrong
        logger.debug("page preview: %s", exc)
    return None
