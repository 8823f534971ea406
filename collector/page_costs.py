"""Costs and step counts of the runs an API answer already holds, without reading them again.

The run list and the run page have the runs' rows (model, provider, tokens,
start) in hand. Their costs are the ``run_costs`` and ``step_costs`` views'
figures (collector/schema_costs.py), computed with the views' arithmetic over
those rows, their steps and one read of the prices concerned: SQL over the same
rows registered as Arrow tables cost 8.6 against 0.4 ms for a run page (polled
while the run is live) and 11 against 4.7 ms for a list page of 50 (100k runs).
Reading the runs again by id costs nothing in a file (its primary-key index) but
a scan of every run's id over a lake, whose files are sorted by start time (150
ms at 1M runs). A run page's steps are in hand (all but a long run's: its page
holds the first 1,000, and its cost reads all its steps' few columns the way a
list page does); a list page's are read once, for costs and step counts
together: by the ``agent_run_id`` index in a file, by run id and start time over
a lake (its files are skipped by their min/max statistics of ``started_at``).
The counts (tool calls, LLM calls) keep the dashboard's first paint off
``/sql``, whose worker copies the tables on its first query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from collector.id_lists import in_list, placeholders
from collector.query_snapshot import has_step_index, parse_iso
from collector.serialize import json_value

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa

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


def _page_steps(cursor: duckdb.DuckDBPyConnection, runs: pa.Table) -> pa.Table:
    ids = runs.column("id").to_pylist()
    marks = placeholders(len(ids))
    if has_step_index(cursor):
        return cursor.execute(_STEPS_BY_INDEX.format(marks=marks), ids).to_arrow_table()
    starts = runs.column("started_at").to_pylist()
    since = min(starts) - _CLOCK_MARGIN if None not in starts else datetime(1, 1, 1)
    sql = _STEPS_BY_TIME.format(marks=marks)
    return cursor.execute(sql, [since, *ids, *ids]).to_arrow_table()


def has_unpriced_models(cursor: duckdb.DuckDBPyConnection, runs: Sequence[dict[str, Any]]) -> bool:
    """True when a model of ``runs`` (the run's, at its provider) has no ``model_prices`` row."""
    pairs = {
        (model, str(run.get("provider") or ""))
        for run in runs
        if (model := _first_named(run.get("model_used"), run.get("model_requested"))) is not None
    }
    return bool(pairs - set(_prices(cursor, pairs)))


def attach_page_figures(cursor: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]]) -> None:
    """Set ``cost_usd``, ``tool_calls`` and ``llm_calls`` on each run of a list page, in place.

    The page's steps are read once; the costs are the views' arithmetic over
    them and the runs in hand, with one read of the prices concerned.
    """
    if not runs:
        return
    steps_of: dict[str, list[dict[str, Any]]] = {}
    for step in _page_steps(cursor, _runs_table(runs)).to_pylist():
        steps_of.setdefault(str(step["agent_run_id"]), []).append(step)
    prices = _prices(cursor, {p for r in runs for p in _wanted(r, steps_of.get(str(r["id"]), []))})
    for run in runs:
        steps = steps_of.get(str(run.get("id")), [])
        run["cost_usd"] = json_value(_costed(run, steps, prices)[0])
        run["tool_calls"] = sum(1 for s in steps if s["action_type"] == "tool_call")
        run["llm_calls"] = sum(1 for s in steps if s["action_type"] == "think")


def attach_run_page_costs(cursor: duckdb.DuckDBPyConnection, run: dict[str, Any]) -> None:
    """Set ``cost_usd`` on a run and on each of its ``steps`` (all of them, in hand), in place.

    A run page is polled while its run is live: its costs take a read of prices.
    A page whose ``steps`` were cut (``steps_truncated``) has its run's cost from
    all its steps, read again in the few columns a cost needs.
    """
    steps = run.get("steps") or []
    every = (
        _page_steps(cursor, _runs_table([run])).to_pylist() if run.get("steps_truncated") else steps
    )
    prices = _prices(cursor, _wanted(run, every))
    run_cost, step_costs = _costed(run, steps, prices)
    if every is not steps:
        run_cost = _costed(run, every, prices)[0]
    run["cost_usd"] = json_value(run_cost)
    for step, cost in zip(steps, step_costs, strict=True):
        step["cost_usd"] = json_value(cost)


_Price = tuple[float | None, float | None]
_Pair = tuple[str, str]  # (model, provider), the key of model_prices


def _has_tokens(step: dict[str, Any]) -> bool:
    return step.get("input_tokens") is not None or step.get("output_tokens") is not None


def _first_named(*models: Any) -> str | None:
    """SQL's ``coalesce`` of model names."""
    for model in models:
        if model is not None:
            return str(model)
    return None


def _wanted(run: dict[str, Any], steps: Sequence[dict[str, Any]]) -> set[_Pair]:
    """The prices a run's cost reads: its model's, and its token steps' models'."""
    provider = str(run.get("provider") or "")
    run_model = _first_named(run.get("model_used"), run.get("model_requested"))
    models = {
        run_model,
        *(_first_named(s.get("model"), run_model) for s in steps if _has_tokens(s)),
    }
    return {(m, provider) for m in models if m is not None}


def _costed(
    run: dict[str, Any], steps: Sequence[dict[str, Any]], prices: dict[_Pair, _Price]
) -> tuple[float | None, list[float | None]]:
    """The run's cost and each step's (None without tokens), as the cost views compute them:
    a step's model is its own, else the run's; the run's cost is its token steps' sum, or its
    own totals priced when no step has tokens."""
    provider = str(run.get("provider") or "")
    run_model = _first_named(run.get("model_used"), run.get("model_requested"))

    def price_of(model: str | None) -> _Price | None:
        return None if model is None else prices.get((model, provider))

    step_costs = [
        _cost(price_of(_first_named(s.get("model"), run_model)), s) if _has_tokens(s) else None
        for s in steps
    ]
    if any(_has_tokens(s) for s in steps):
        counted = [c for c in step_costs if c is not None]
        return (sum(counted) if counted else None), step_costs
    return _cost(price_of(run_model), run), step_costs


def _prices(cursor: duckdb.DuckDBPyConnection, pairs: set[_Pair]) -> dict[_Pair, _Price]:
    """``model_prices`` rows of ``pairs`` (a pair without a row is absent): one read a provider."""
    by_provider: dict[str, list[str]] = {}
    for model, provider in pairs:
        by_provider.setdefault(provider, []).append(model)
    found: dict[_Pair, _Price] = {}
    for provider, models in by_provider.items():
        listed, params = in_list(sorted(models))
        rows = cursor.execute(
            "SELECT model, input_usd_per_mtok, output_usd_per_mtok FROM model_prices "
            f"WHERE provider = ? AND model IN ({listed})",
            [provider, *params],
        ).fetchall()
        found.update({(str(model), provider): (inp, out) for model, inp, out in rows})
    return found


def _cost(price: _Price | None, row: dict[str, Any]) -> float | None:
    """``(coalesce(input_tokens, 0) * input price + ...) / 1e6``; None without a price."""
    if price is None or price[0] is None or price[1] is None:
        return None
    tokens_in = _int(row.get("input_tokens")) or 0
    tokens_out = _int(row.get("output_tokens")) or 0
    return (tokens_in * price[0] + tokens_out * price[1]) / 1e6
