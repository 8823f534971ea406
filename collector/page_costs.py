"""Costs and step counts of the runs an API answer already holds, without reading them again.

The run list and the run page have the runs' rows (model, provider, tokens,
start) in hand; the costs are the ``run_costs`` and ``step_costs`` views'
figures (collector/schema_costs.py): for a list page, computed over those rows
and the page's steps with the same SQL; for a run page (polled while the run is
live), with the same arithmetic in Python over the rows in hand and one read of
the prices concerned (0.4 ms against 8.6 ms through the SQL). Reading the runs
again by id costs nothing in a file (its primary-key index) but a scan of every
run's id over a lake, whose files are sorted by start time (150 ms at 1M runs,
twice per page: for missing prices and for costs). A run page's steps are in
hand too; a list page's are read once, for costs and step counts together: by
the ``agent_run_id`` index in a file, by run id and start time over a lake (its
files are skipped by their min/max statistics of ``started_at``). The counts
(tool calls, LLM calls) keep the dashboard's first paint off ``/sql``, whose
worker copies the tables on its first query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from collector.id_lists import in_list, placeholders
from collector.query_snapshot import has_step_index, parse_iso
from collector.serialize import json_value

__all__ = ["has_unpriced_models", "attach_page_figures", "attach_run_page_costs"]

# Steps may start before their run by this much (clocks of other hosts).
_CLOCK_MARGIN = timedelta(hours=1)
_STEP_COLUMNS = "agent_run_id, action_type, model, input_tokens, output_tokens"
_STEPS_BY_INDEX = f"SELECT {_STEP_COLUMNS} FROM agent_steps WHERE agent_run_id IN ({{marks}})"
# Two scans rather than one OR: each keeps its filter on started_at for the files' statistics.
_STEPS_BY_TIME = f"""
    SELECT {_STEP_COLUMNS} FROM agent_steps
    WHERE started_at >= ? AND agent_run_id IN ({{marks}})
    UNION ALL
    SELECT {_STEP_COLUMNS} FROM agent_steps
    WHERE started_at IS NULL AND agent_run_id IN ({{marks}})
"""
# The step_costs view's figure, for the steps in _page_steps (those with tokens: the
# others have none, as in the view).
_STEP_COST = """
    (coalesce(s.input_tokens, 0) * p.input_usd_per_mtok
     + coalesce(s.output_tokens, 0) * p.output_usd_per_mtok) / 1e6
"""
_PRICE_OF_STEP = """
    LEFT JOIN model_prices p
           ON p.model = coalesce(s.model, r.model_used, r.model_requested)
          AND p.provider = coalesce(r.provider, '')
"""
_RUN_COSTS = f"""
WITH steps AS (
    SELECT s.agent_run_id AS run_id, {_STEP_COST} AS cost_usd
    FROM _page_steps s JOIN _page_runs r ON r.id = s.agent_run_id
    {_PRICE_OF_STEP}
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


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _runs_table(runs: Sequence[dict[str, Any]]) -> pa.Table:
    def text(key: str) -> pa.Array:
        return pa.array([None if r.get(key) is None else str(r[key]) for r in runs], pa.string())

    return pa.table(
        {
            "id": text("id"),
            "started_at": pa.array(
                [parse_iso(r.get("started_at")) for r in runs], pa.timestamp("us")
            ),
            "model_used": text("model_used"),
            "model_requested": text("model_requested"),
            "provider": text("provider"),
            "input_tokens": pa.array([_int(r.get("input_tokens")) for r in runs], pa.int64()),
            "output_tokens": pa.array([_int(r.get("output_tokens")) for r in runs], pa.int64()),
        }
    )


def has_unpriced_models(cursor: duckdb.DuckDBPyConnection, runs: Sequence[dict[str, Any]]) -> bool:
    """True when a model of ``runs`` (the run's, at its provider) has no ``model_prices`` row."""
    by_provider: dict[str, set[str]] = {}
    for run in runs:
        model = _first_named(run.get("model_used"), run.get("model_requested"))
        if model is not None:
            by_provider.setdefault(str(run.get("provider") or ""), set()).add(model)
    return any(
        models - set(_prices(cursor, models, provider)) for provider, models in by_provider.items()
    )


def _page_steps(cursor: duckdb.DuckDBPyConnection, runs: pa.Table) -> pa.Table:
    ids = runs.column("id").to_pylist()
    marks = placeholders(len(ids))
    if has_step_index(cursor):
        return cursor.execute(_STEPS_BY_INDEX.format(marks=marks), ids).to_arrow_table()
    starts = runs.column("started_at").to_pylist()
    since = min(starts) - _CLOCK_MARGIN if None not in starts else datetime(1, 1, 1)
    sql = _STEPS_BY_TIME.format(marks=marks)
    return cursor.execute(sql, [since, *ids, *ids]).to_arrow_table()


def _run_costs(cursor: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    return {str(i): json_value(cost) for i, cost in cursor.execute(_RUN_COSTS).fetchall()}


def attach_page_figures(cursor: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]]) -> None:
    """Set ``cost_usd``, ``tool_calls`` and ``llm_calls`` on each run of a list page, in place."""
    if not runs:
        return
    table = _runs_table(runs)
    steps = _page_steps(cursor, table)
    cursor.register("_page_runs", table)
    cursor.register("_page_steps", steps)
    try:
        costs = _run_costs(cursor)
    finally:
        cursor.unregister("_page_steps")
        cursor.unregister("_page_runs")
    counts: dict[str, list[int]] = {}
    for run_id, action in zip(
        steps.column("agent_run_id").to_pylist(),
        steps.column("action_type").to_pylist(),
        strict=True,
    ):
        tally = counts.setdefault(str(run_id), [0, 0])
        if action == "tool_call":
            tally[0] += 1
        elif action == "think":
            tally[1] += 1
    for run in runs:
        run_id = str(run.get("id"))
        run["cost_usd"] = costs.get(run_id)
        run["tool_calls"], run["llm_calls"] = counts.get(run_id, (0, 0))


def attach_run_page_costs(cursor: duckdb.DuckDBPyConnection, run: dict[str, Any]) -> None:
    """Set ``cost_usd`` on a run and on each of its ``steps`` (all of them, in hand), in place.

    The views' arithmetic on the rows in hand, with one read of the prices
    concerned: a run page is polled while its run is live, and registering
    its rows for the views' SQL cost three times the page's own read.
    """
    steps = run.get("steps") or []
    run_model = _first_named(run.get("model_used"), run.get("model_requested"))
    with_tokens = [
        s for s in steps if s.get("input_tokens") is not None or s.get("output_tokens") is not None
    ]
    step_models = {str(s.get("id")): _first_named(s.get("model"), run_model) for s in with_tokens}
    prices = _prices(
        cursor,
        {m for m in [run_model, *step_models.values()] if m is not None},
        str(run.get("provider") or ""),
    )
    by_step = {
        str(s.get("id")): _cost(prices.get(step_models[str(s.get("id"))]), s) for s in with_tokens
    }
    if with_tokens:
        counted = [c for c in by_step.values() if c is not None]
        run["cost_usd"] = json_value(sum(counted)) if counted else None
    else:
        run["cost_usd"] = json_value(_cost(prices.get(run_model), run))
    for step in steps:
        step["cost_usd"] = json_value(by_step.get(str(step.get("id"))))


def _first_named(*models: Any) -> str | None:
    """SQL's ``coalesce`` of model names."""
    for model in models:
        if model is not None:
            return str(model)
    return None


_Price = tuple[float | None, float | None]


def _prices(
    cursor: duckdb.DuckDBPyConnection, models: set[str], provider: str
) -> dict[str | None, _Price]:
    """``model_prices`` rows of ``models`` at ``provider`` (a model without a row is absent)."""
    if not models:
        return {}
    listed, params = in_list(sorted(models))
    rows = cursor.execute(
        "SELECT model, input_usd_per_mtok, output_usd_per_mtok FROM model_prices "
        f"WHERE provider = ? AND model IN ({listed})",
        [provider, *params],
    ).fetchall()
    return {str(model): (inp, out) for model, inp, out in rows}


def _cost(price: _Price | None, row: dict[str, Any]) -> float | None:
    """``(coalesce(input_tokens, 0) * input price + ...) / 1e6``; None without a price."""
    if price is None or price[0] is None or price[1] is None:
        return None
    tokens_in = _int(row.get("input_tokens")) or 0
    tokens_out = _int(row.get("output_tokens")) or 0
    return (tokens_in * price[0] + tokens_out * price[1]) / 1e6
