"""Reading the search index: a page of matching runs newest first, or every match.

Queries and filters are compiled by :mod:`collector.search_query`; these functions
run them on a searcher of the open index (:class:`collector.search_directory.OpenedIndex`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from collector.search_directory import OpenedIndex
from collector.search_query import (
    SearchFilters,
    SearchHits,
    TextQuery,
    count_hits,
    filtered_query,
    micros,
    page_hits,
    time_bounds,
    without_unmatched_prefix,
)

__all__ = ["all_matching", "search_page"]

_CURSOR_SLACK = 64  # hits beyond the page, for ties with a cursor's start dropped here


def search_page(
    opened: OpenedIndex,
    query: TextQuery | Sequence[str] | None,
    filters: SearchFilters,
    *,
    limit: int,
    offset: int,
    before: tuple[datetime | None, str] | None,
    newest: datetime | None,
) -> SearchHits:
    """A page of runs matching ``query`` that pass ``filters``, newest first, and their
    count; ``before`` is a keyset cursor (start, id), ``newest`` the newest start the
    reader sees (see :meth:`collector.search_index.SearchIndex.search`)."""
    tantivy, schema = opened.tantivy, opened.schema
    lower, upper = time_bounds(filters)
    searcher = opened.index.searcher()
    query = without_unmatched_prefix(tantivy, schema, searcher, query)
    total = count_hits(searcher, filtered_query(tantivy, schema, query, filters, lower, upper))
    cursor_us = None
    if before is not None and before[0] is not None:
        # Keyset paging: at or before the cursor's start; ties are sorted out below.
        cursor_us = micros(before[0])
        upper = cursor_us if upper is None else min(upper, cursor_us)
    slack = _CURSOR_SLACK if cursor_us is not None else 0
    anchor = upper if upper is not None else (micros(newest) if newest else None)

    def hits_from(low: int | None, wanted: int) -> list[Any]:
        compiled = filtered_query(tantivy, schema, query, filters, low, upper)
        return list(
            searcher.search(
                compiled, wanted, count=False, order_by_field="started_us", offset=offset
            ).hits
        )

    hits = page_hits(hits_from, lower, anchor, limit + slack, offset, total)
    keyed = [(key, searcher.doc(address)["id"][0]) for key, address in hits]
    if cursor_us is not None and before is not None:
        after_id = before[1]
        keyed = [(k, i) for k, i in keyed if k < cursor_us or (k == cursor_us and i < after_id)]
    keyed.sort(reverse=True)
    page = keyed[:limit]
    return SearchHits(
        run_ids=[run_id for _, run_id in page], total=total, starts_us=[k for k, _ in page]
    )


def all_matching(
    opened: OpenedIndex,
    query: TextQuery | Sequence[str] | None,
    filters: SearchFilters | None,
    *,
    at_most: int | None,
) -> SearchHits | None:
    """Every run matching ``query`` and ``filters``; None when more than ``at_most``."""
    tantivy, schema = opened.tantivy, opened.schema
    filters = filters or SearchFilters()
    lower, upper = time_bounds(filters)
    searcher = opened.index.searcher()
    query = without_unmatched_prefix(tantivy, schema, searcher, query)
    compiled = filtered_query(tantivy, schema, query, filters, lower, upper)
    total = count_hits(searcher, compiled)
    if at_most is not None and total > at_most:
        return None
    if not total:
        return SearchHits(run_ids=[], total=0)
    found = searcher.search(compiled, total, count=False, order_by_field="started_us")
    return SearchHits(
        run_ids=[searcher.doc(address)["id"][0] for _, address in found.hits],
        total=total,
        starts_us=[int(key) for key, _ in found.hits],
    )
