"""``/agent/costs`` answers kept per filter and data version, like ``/stats``.

A costs answer reads every matching run's tokens and prices: seconds at 100k runs
on a loaded machine, which a dashboard's stats page would pay on every poll. The
answer is kept by :class:`collector.query_stats_cache.StatsCache` under the same
rules as stats (exact at the same data version; on a big store a recent answer,
refreshed in the background), with the price table's own version added: a model
priced since changes the answer though no run did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb

from collector import costs
from collector.queries import RunFilters, in_snapshot
from collector.query_stats_cache import StatsCache, data_version, database_key

__all__ = ["CACHE", "kept_costs"]

CACHE = StatsCache()

Background = Callable[[Callable[[duckdb.DuckDBPyConnection], None]], None]


def _version(cursor: duckdb.DuckDBPyConnection, filters: RunFilters) -> tuple[Any, ...]:
    prices = cursor.execute("SELECT count(*), max(priced_at) FROM model_prices").fetchone()
    return data_version(cursor, annotations=bool(filters.annotation)) + tuple(prices or ())


def kept_costs(
    cursor: duckdb.DuckDBPyConnection,
    filters: RunFilters,
    *,
    bucket: str = "day",
    cache: StatsCache | None = CACHE,
    background: Background | None = None,
) -> dict[str, Any]:
    """:func:`collector.costs.cost_stats`, kept (see the module's doc); ``cache=None`` computes."""
    if cache is None:
        return costs.cost_stats(cursor, filters, bucket=bucket)

    def compute(cur: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        return costs.cost_figures(cur, filters, bucket=bucket)

    def version_of(cur: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
        return _version(cur, filters)

    def revalidate(job: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
        assert background is not None
        background(lambda cur: in_snapshot(cur, lambda: job(cur)))

    def read() -> dict[str, Any]:
        key = ("costs", database_key(cursor), filters, bucket)
        kept = cache.recent(key)
        if kept is not None:
            return kept
        return cache.get(
            cursor,
            key,
            version_of(cursor),
            compute,
            revalidate=revalidate if background is not None else None,
            version_of=version_of,
        )

    return in_snapshot(cursor, read)
