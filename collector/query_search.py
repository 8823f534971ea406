"""The run list and stats when ``q`` is given: run ids from the search index, rows from DuckDB.

:func:`collector.queries.list_runs` calls :func:`search_page` first; None
means "answer by scanning" (the index has not caught up with the reader's
snapshot, ``q`` is under 3 characters and not plain words, or its trigrams
leave more candidates than SQL checks quickly).

``has_error``, ``tool`` and ``annotation`` without ``q`` are answered by the
index too: SQL would read every step's status, every run's tool list, or
join every annotation to every run, where the index holds a term for each. ``q`` of plain words is
answered by the index alone (the words anywhere in the
run's text, or a run id prefix). Any other ``q`` keeps its substring meaning
(:func:`collector.queries.where_clause`): the index narrows the runs to those
holding every trigram of ``q`` in task or final answer (or whose id starts
with ``q``), and SQL applies the whole filter to those candidates only.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from collector.queries import Cursor, RunFilters, RunPage
    from collector.search_index import SearchFilters, SearchHits, SearchIndex, TextQuery

logger = logging.getLogger(__name__)

__all__ = ["search_page", "search_where", "MAX_CANDIDATES"]

# More trigram candidates than this: scan instead (each is a primary-key lookup).
MAX_CANDIDATES = 2000
# A page whose starts lie within this span is read with start bounds (_runs_in).
_NARROW_PAGE = timedelta(hours=1)


def _fresh(
    cursor: duckdb.DuckDBPyConnection, index: SearchIndex, filters: RunFilters
) -> tuple[bool, datetime | None]:
    """Whether the index holds the reader's snapshot (it waits a moment for that), and
    the newest start in that snapshot (None when no run has one)."""
    from collector.query_snapshot import newest

    updated = newest(cursor, "agent_runs", "updated_at")
    annotated = newest(cursor, "annotations", "created_at") if filters.annotation else None
    fresh = index.wait_fresh(updated, snapshot_annotated_at=annotated)
    return fresh, newest(cursor, "agent_runs", "started_at")


def _index_query(filters: RunFilters) -> tuple[bool, TextQuery | None]:
    """(whether the index can answer, its text query: None for every run)."""
    from collector.search_index import text_query

    if filters.parent_run_id:
        return False, None  # the index holds no run links; a run's sub-runs are few
    if filters.text:
        query = text_query(filters.text)
        return query is not None, query
    # Filters SQL answers only by reading every run's list, every step or every annotation
    # (has_error: each step's status); the index has a term for each.
    return bool(filters.has_error or filters.tool or filters.annotation), None


def _index_filters(filters: RunFilters) -> SearchFilters:
    """The filters as the index applies them (annotations too: each document holds its
    run's annotation terms, collector/search_documents.py)."""
    from collector.search_index import SearchFilters

    return SearchFilters(
        statuses=filters.statuses,
        source=filters.source,
        agent_name=filters.agent_name,
        model=filters.model,
        tool=filters.tool,
        since=filters.since,
        until=filters.until,
        has_error=filters.has_error,
        annotation=filters.annotation,
    )


def _runs_in(hits: SearchHits) -> tuple[str, list[Any]]:
    """SQL for "one of these runs": the ids, and the span of their starts.

    The start bounds let DuckDB skip every row group outside them by its min/max
    (a page of a common word: a few minutes, one row group). A page spread over
    hours (the annotated runs) gains little from them, and the bound turns DuckDB
    from looking each id up in the primary key to a scan of every run in the
    span: at 1M runs, 12-29 ms against 4-12 for such a page.
    """
    ids = hits.run_ids
    condition = f"r.id IN ({', '.join('?' for _ in ids)})"
    params: list[Any] = list(ids)
    between = hits.started_between()
    if between is not None and between[1] - between[0] <= _NARROW_PAGE:
        condition += " AND r.started_at BETWEEN ? AND ?"
        params += list(between)
    return condition, params


def search_page(
    cursor: duckdb.DuckDBPyConnection,
    index: SearchIndex,
    filters: RunFilters,
    *,
    limit: int,
    after: Cursor | None,
    offset: int,
    now: datetime,
) -> RunPage | None:
    """One page of the run list from the index, inside the caller's read snapshot
    (None: scan; so too when the index cannot be read)."""
    from collector.search_index import IndexUnreadable

    try:
        return _search_page(
            cursor, index, filters, limit=limit, after=after, offset=offset, now=now
        )
    except IndexUnreadable:
        logger.warning("run list with q answered by a scan", exc_info=True)
        return None


def _search_page(
    cursor: duckdb.DuckDBPyConnection,
    index: SearchIndex,
    filters: RunFilters,
    *,
    limit: int,
    after: Cursor | None,
    offset: int,
    now: datetime,
) -> RunPage | None:
    from collector import queries

    usable, query = _index_query(filters)
    if not usable:
        return None
    fresh, newest = _fresh(cursor, index, filters)
    if not fresh:
        return None
    by_index = _index_filters(filters)
    if query is not None and not query.exact:
        candidates = index.matching(query, by_index, at_most=MAX_CANDIDATES)
        if candidates is None:
            return None
        return _checked_page(cursor, candidates, filters, limit, after, offset, now)
    before = (after.started_at, after.run_id) if after is not None else None
    hits = index.search(
        query, by_index, limit=limit + 1, offset=offset, before=before, newest=newest
    )
    if not hits.run_ids:
        return queries.RunPage(runs=[], total=hits.total, next=None)
    condition, params = _runs_in(hits)
    inner = f"SELECT r.* FROM agent_runs r WHERE {condition}"
    rows = queries.fetch_dicts(cursor, queries.RUN_SELECT.format(inner=inner), params)
    return _page(rows, hits.total, limit, now)


def _page(rows: list[dict[str, Any]], total: int, limit: int, now: datetime) -> RunPage:
    from collector import queries

    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        queries.encode_cursor(rows[-1]["started_at"], rows[-1]["id"]) if has_more and rows else None
    )
    page_runs: list[dict[str, Any]] = [queries.with_live_fields(row, now) for row in rows]
    return queries.RunPage(runs=page_runs, total=total, next=next_cursor)


def _checked_page(
    cursor: duckdb.DuckDBPyConnection,
    candidates: SearchHits,
    filters: RunFilters,
    limit: int,
    after: Cursor | None,
    offset: int,
    now: datetime,
) -> RunPage:
    """The page and total among ``candidates``, ``q`` and the other filters applied in SQL.

    The index has applied has_error, the tool and the annotation already (SQL would
    read every step, every run's tools, every annotation).
    """
    from collector import queries

    if not candidates.run_ids:
        return queries.RunPage(runs=[], total=0, next=None)
    checked = dataclasses.replace(filters, has_error=False, annotation=None, tool=None)
    where, params = queries.where_clause(checked)
    # The candidates' rows first, by id alone; the text and the other filters then on
    # those few rows (in one statement DuckDB may read task and answer of every run).
    pool = cursor.execute(
        "SELECT * FROM agent_runs WHERE id IN (SELECT unnest(?))", [candidates.run_ids]
    ).to_arrow_table()
    cursor.register("_candidates", pool)
    try:
        page_where, page_params = where, list(params)
        if after is not None:
            condition, extra = queries.after_cursor(after)
            page_where, page_params = f"{where} AND {condition}", [*params, *extra]
        inner = (
            f"SELECT r.* FROM _candidates r WHERE {page_where} "
            "ORDER BY r.started_at DESC NULLS LAST, r.id DESC LIMIT ? OFFSET ?"
        )
        page_params += [limit + 1, 0 if after is not None else offset]
        rows = queries.fetch_dicts(cursor, queries.RUN_SELECT.format(inner=inner), page_params)
        total_sql = f"SELECT count(*) FROM _candidates r WHERE {where}"
        total_row = cursor.execute(total_sql, params).fetchone()
    finally:
        cursor.unregister("_candidates")
    return _page(rows, int(total_row[0]) if total_row else 0, limit, now)


def search_where(
    cursor: duckdb.DuckDBPyConnection, index: SearchIndex, filters: RunFilters
) -> tuple[str, list[Any]] | None:
    """``WHERE`` for the stats: the index's matches for ``q`` (ids), the filters in SQL.

    None when the index cannot answer (then ``q`` scans).
    """
    from collector.search_index import IndexUnreadable

    try:
        return _search_where(cursor, index, filters)
    except IndexUnreadable:
        logger.warning("stats with q answered by a scan", exc_info=True)
        return None


def _search_where(
    cursor: duckdb.DuckDBPyConnection, index: SearchIndex, filters: RunFilters
) -> tuple[str, list[Any]] | None:
    from collector import queries

    usable, query = _index_query(filters)
    if query is None or not usable or not _fresh(cursor, index, filters)[0]:
        return None
    by_index = _index_filters(filters)
    if query.exact:
        ids = index.matching_ids(query, by_index) or []
        where, params = queries.where_clause(dataclasses.replace(filters, text=None))
        return f"{where} AND r.id IN (SELECT unnest(?))", [*params, ids]
    candidates = index.matching(query, by_index, at_most=MAX_CANDIDATES)
    if candidates is None:
        return None
    if not candidates.run_ids:
        return "FALSE", []
    checked = dataclasses.replace(filters, has_error=False, annotation=None, tool=None)
    where, params = queries.where_clause(checked)
    condition, in_params = _runs_in(candidates)
    return f"{condition} AND {where}", [*in_params, *params]
