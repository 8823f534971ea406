"""Costs for the API: per run and step (from the cost views), and cost statistics.

Prices are filled in lazily: before costs are read, models that have no row in
``model_prices`` yet are priced in one write transaction (collector.pricing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import duckdb

from collector.id_lists import placeholders
from collector.pricing import PriceBook, refresh_model_prices
from collector.queries import RunFilters, in_snapshot, where_clause
from collector.query_snapshot import has_step_index
from collector.serialize import json_value

__all__ = ["cost_figures", "cost_stats", "ensure_prices", "run_costs", "step_costs", "BUCKETS"]

T = TypeVar("T")
BUCKETS = ("hour", "day", "week", "month")

_HAS_UNPRICED = """
    SELECT 1 FROM (
        SELECT DISTINCT coalesce(model_used, model_requested) AS model,
               coalesce(provider, '') AS provider
        FROM agent_runs WHERE coalesce(model_used, model_requested) IS NOT NULL {scope}
    ) m
    WHERE NOT EXISTS (
        SELECT 1 FROM model_prices p WHERE p.model = m.model AND p.provider = m.provider
    )
    LIMIT 1
"""


def ensure_prices(
    read: Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any],
    write: Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any],
    book: PriceBook,
    *,
    now: datetime,
    run_ids: Sequence[str] | None = None,
) -> None:
    """Price the models of ``run_ids`` (all runs when None) that have no price row yet."""
    scope, params = "", list[Any]()
    if run_ids is not None:
        if not run_ids:
            return
        scope, params = _ids_in(run_ids)

    def missing(cur: duckdb.DuckDBPyConnection) -> bool:
        return cur.execute(_HAS_UNPRICED.format(scope=scope), params).fetchone() is not None

    if read(missing):
        write(lambda con: refresh_model_prices(con, book, now=now))


# A page of ids as a literal list, which DuckDB looks up in the id index one by one;
# a joined list (unnest) scans the whole table, whose cost grows with the store and
# with the versions the writer's recent updates left. Longer lists are joined.
_LOOKUP_IDS = 1000


def _ids_in(run_ids: Sequence[str]) -> tuple[str, list[Any]]:
    """``AND id IN (...)`` and its parameters, for a scope of run ids."""
    if len(run_ids) > _LOOKUP_IDS:
        return "AND id IN (SELECT unnest(?))", [list(run_ids)]
    return f"AND id IN ({placeholders(len(run_ids))})", list(run_ids)


# The run_costs view, for a few runs: the view reads every step; this reads the page's.
_RUNS_OF = """
    SELECT id, started_at, model_used, model_requested, provider, input_tokens, output_tokens
    FROM agent_runs WHERE true {scope}
"""
# The page's steps: by the agent_steps_run_id index where there is one (a literal
# list of ids, not a joined unnest: DuckDB looks each up, wherever in the table the
# steps lie), or, over a lake's views (no index), by start time: steps from an hour
# before the earliest run of the page (clocks of other hosts), whose files DuckDB
# skips by their min/max, plus steps with no start, in two scans rather than one OR.
_PAGE_STEPS_BY_INDEX = """
    SELECT agent_run_id, model, input_tokens, output_tokens FROM agent_steps
    WHERE agent_run_id IN ({marks})
"""
_PAGE_STEPS_BY_TIME = """
    SELECT agent_run_id, model, input_tokens, output_tokens FROM agent_steps
    WHERE started_at >= ? AND agent_run_id IN (SELECT unnest(?))
    UNION ALL
    SELECT agent_run_id, model, input_tokens, output_tokens FROM agent_steps
    WHERE started_at IS NULL AND agent_run_id IN (SELECT unnest(?))
"""
_CLOCK_MARGIN = timedelta(hours=1)
_RUN_COSTS_OF = """
WITH page_steps AS ({page_steps}), steps AS (
    SELECT s.agent_run_id AS run_id,
           (coalesce(s.input_tokens, 0) * p.input_usd_per_mtok
            + coalesce(s.output_tokens, 0) * p.output_usd_per_mtok) / 1e6 AS cost_usd
    FROM page_steps s JOIN _page_runs r ON r.id = s.agent_run_id
    LEFT JOIN model_prices p
           ON p.model = coalesce(s.model, r.model_used, r.model_requested)
          AND p.provider = coalesce(r.provider, '')
    WHERE s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL
), by_run AS (SELECT run_id, sum(cost_usd) AS cost_usd FROM steps GROUP BY run_id)
SELECT r.id,
       CASE WHEN b.run_id IS NOT NULL THEN b.cost_usd
            ELSE (coalesce(r.input_tokens, 0) * p.input_usd_per_mtok
                  + coalesce(r.output_tokens, 0) * p.output_usd_per_mtok) / 1e6 END
FROM _page_runs r LEFT JOIN by_run b ON b.run_id = r.id
LEFT JOIN model_prices p
       ON p.model = coalesce(r.model_used, r.model_requested)
      AND p.provider = coalesce(r.provider, '')
"""


def run_costs(cursor: duckdb.DuckDBPyConnection, run_ids: Sequence[str]) -> dict[str, Any]:
    """``cost_usd`` of each run (None when its model has no price): the ``run_costs`` view's.

    Only these runs' steps are read, by the index on ``agent_run_id``: a page
    costs a few ms at 1M runs, old or new, where the view reads all steps (over
    a lake, which has no index, by start time).
    """
    if not run_ids:
        return {}
    scope, scope_params = _ids_in(run_ids)
    runs = cursor.execute(_RUNS_OF.format(scope=scope), scope_params).to_arrow_table()
    if runs.num_rows == 0:
        return {}
    cursor.register("_page_runs", runs)
    try:
        ids = runs.column("id").to_pylist()
        params: list[Any]
        if has_step_index(cursor):
            page_steps = _PAGE_STEPS_BY_INDEX.format(marks=placeholders(len(ids)))
            params = list(ids)
        else:
            starts = runs.column("started_at").to_pylist()
            since = min(starts) - _CLOCK_MARGIN if None not in starts else datetime(1, 1, 1)
            page_steps, params = _PAGE_STEPS_BY_TIME, [since, ids, ids]
        sql = _RUN_COSTS_OF.format(page_steps=page_steps)
        rows = cursor.execute(sql, params).fetchall()
    finally:
        cursor.unregister("_page_runs")
    return {str(run_id): json_value(cost) for run_id, cost in rows}


def step_costs(cursor: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    """``cost_usd`` of each step of a run that used tokens."""
    rows = cursor.execute(
        "SELECT step_id, cost_usd FROM step_costs WHERE run_id = ?", [run_id]
    ).fetchall()
    return {str(step_id): json_value(cost) for step_id, cost in rows}


def cost_stats(
    cursor: duckdb.DuckDBPyConnection, filters: RunFilters, *, bucket: str = "day", top: int = 20
) -> dict[str, Any]:
    """Total cost, cost per time bucket and model, by model and by agent (one snapshot)."""
    return in_snapshot(cursor, lambda: cost_figures(cursor, filters, bucket=bucket, top=top))


def cost_figures(
    cursor: duckdb.DuckDBPyConnection, filters: RunFilters, *, bucket: str = "day", top: int = 20
) -> dict[str, Any]:
    """:func:`cost_stats` inside the caller's snapshot."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}")
    where, params = where_clause(filters, "r")
    base = f"FROM run_costs c JOIN agent_runs r ON r.id = c.run_id WHERE {where}"

    def read() -> dict[str, Any]:
        total = cursor.execute(
            f"SELECT count(*), sum(c.cost_usd), count(*) FILTER (WHERE c.cost_usd IS NULL) {base}",
            params,
        ).fetchone()
        over_time = cursor.execute(
            f"SELECT date_trunc('{bucket}', r.started_at) AS bucket, c.model, sum(c.cost_usd) "
            f"{base} AND r.started_at IS NOT NULL GROUP BY ALL ORDER BY 1, 2",
            params,
        ).fetchall()
        by_model = cursor.execute(
            f"SELECT c.model, sum(c.cost_usd) AS cost {base} GROUP BY 1 "
            "HAVING sum(c.cost_usd) IS NOT NULL ORDER BY cost DESC LIMIT ?",
            [*params, top],
        ).fetchall()
        by_agent = cursor.execute(
            f"SELECT r.agent_name, sum(c.cost_usd) AS cost {base} GROUP BY 1 "
            "HAVING sum(c.cost_usd) IS NOT NULL ORDER BY cost DESC LIMIT ?",
            [*params, top],
        ).fetchall()
        runs, total_usd, unpriced = total if total else (0, None, 0)
        return {
            "bucket": bucket,
            "runs": int(runs or 0),
            "total_usd": json_value(total_usd),
            "unpriced_runs": int(unpriced or 0),
            "over_time": [
                {"bucket": json_value(b), "model": m, "cost_usd": json_value(c)}
                for b, m, c in over_time
                if c is not None
            ],
            "by_model": {str(m): json_value(c) for m, c in by_model},
            "by_agent": {str(a): json_value(c) for a, c in by_agent},
        }

    return read()
