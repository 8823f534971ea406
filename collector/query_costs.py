"""``/agent/costs`` answers kept per filter and data version, like ``/stats``.

A costs answer reads every matching run's tokens and prices: seconds at 100k runs
on a loaded machine, which a dashboard's stats page would pay on every poll. The
answer is kept by :class:`collector.query_stats_cache.StatsCache` under the same
rules as stats (exact at the same data version; on a big store a recent answer,
refreshed in the background), with the price table's own version added: a model
priced since changes the answer though no run did.
"""

from __future__ import annotations

from typing import Any

import duckdb

from collector import costs
from collector.queries import RunFilters
from collector.query_stats_cache import Background, StatsCache, data_version

__all__ = ["CACHE", "kept_costs"]

CACHE = StatsCache()


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

    return cache.answer(cursor, ("costs", filters, bucket), compute, version_of, background)
