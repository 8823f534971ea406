"""Costs and step counts of the rows an API answer holds: the views' figures, read once.

Checked on a file with its ``agent_steps_run_id`` index and without it (the
path a lake takes: steps by run id and start time).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from bench.dataset import build_via_sql
from collector import queries
from collector.page_costs import (
    attach_page_figures,
    attach_run_page_costs,
    has_unpriced_models,
)
from collector.pricing import PriceBook, refresh_model_prices
from collector.query_filters import RunFilters


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("costs") / "audit.duckdb"
    build_via_sql(db, runs=600, chunk=200, progress=False, spans=False, running=3)
    con = duckdb.connect(str(db))
    try:
        # One model priced by override, one left unknown (NULL), the others as the book says.
        refresh_model_prices(con, PriceBook({"gpt-4.1": (2.0, 8.0)}), now=datetime(2026, 9, 1))
        con.execute("DELETE FROM model_prices WHERE model = 'qwen3:32b'")
        # A run whose steps have no start time: they count too.
        undated = (
            "(SELECT id FROM agent_runs WHERE model_used = 'gpt-4.1' "
            "ORDER BY started_at DESC LIMIT 1)"
        )
        con.execute(f"UPDATE agent_steps SET started_at = NULL WHERE agent_run_id = {undated}")
        con.execute(f"UPDATE agent_runs SET input_tokens = 10 ** 9 WHERE id = {undated}")
    finally:
        con.close()
    return db


@pytest.fixture(params=["with the run-id index", "without it (as over a lake)"])
def con(store: Path, tmp_path: Path, request: pytest.FixtureRequest) -> duckdb.DuckDBPyConnection:
    db = tmp_path / "copy.duckdb"
    db.write_bytes(store.read_bytes())
    connection = duckdb.connect(str(db))
    if request.param.startswith("without"):
        connection.execute("DROP INDEX agent_steps_run_id")
    return connection


def _view_costs(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, float | None]:
    rows = con.execute(
        "SELECT run_id, cost_usd FROM run_costs WHERE run_id IN (SELECT unnest(?))", [ids]
    ).fetchall()
    return dict(rows)


@pytest.mark.parametrize(
    "filters",
    [RunFilters(), RunFilters(statuses=("failed",)), RunFilters(until=datetime(2026, 8, 1, 0, 5))],
)
def test_a_list_page_gets_the_views_costs_and_the_step_counts(
    con: duckdb.DuckDBPyConnection, filters: RunFilters
) -> None:
    runs = queries.list_runs(con.cursor(), filters, limit=50).runs
    ids = [str(r["id"]) for r in runs]
    view = _view_costs(con, ids)
    counts = {
        str(run_id): (int(tools), int(llm))
        for run_id, tools, llm in con.execute(
            "SELECT agent_run_id, count(*) FILTER (WHERE action_type = 'tool_call'), "
            "count(*) FILTER (WHERE action_type = 'think') FROM agent_steps "
            "WHERE agent_run_id IN (SELECT unnest(?)) GROUP BY 1",
            [ids],
        ).fetchall()
    }
    attach_page_figures(con.cursor(), runs)
    assert any(cost is None for cost in view.values()) and any(view.values())
    assert any(tools for tools, _ in counts.values())
    for run in runs:
        expected = view[str(run["id"])]
        assert run["cost_usd"] == (None if expected is None else pytest.approx(expected))
        assert (run["tool_calls"], run["llm_calls"]) == counts.get(str(run["id"]), (0, 0))


def test_the_undated_run_is_costed_by_its_steps(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute(
        "SELECT DISTINCT agent_run_id FROM agent_steps WHERE started_at IS NULL"
    ).fetchone()
    assert row is not None
    run = queries.get_run(con.cursor(), str(row[0]))
    attach_page_figures(con.cursor(), [run])
    # Its own token totals (10**9) would cost far more than its steps do.
    assert run["cost_usd"] == pytest.approx(_view_costs(con, [str(row[0])])[str(row[0])])
    assert run["cost_usd"] < 100


def test_a_run_page_gets_the_views_costs_for_the_run_and_each_step(
    con: duckdb.DuckDBPyConnection,
) -> None:
    ids = [r[0] for r in con.execute("SELECT id FROM agent_runs ORDER BY id LIMIT 40").fetchall()]
    # A price row with one price unknown (NULL) prices nothing, as in the views.
    half_known = con.execute(
        "SELECT model FROM step_costs WHERE run_id IN (SELECT unnest(?)) "
        "AND cost_usd > 0 ORDER BY model LIMIT 1",
        [ids],
    ).fetchone()
    assert half_known is not None
    con.execute(
        "UPDATE model_prices SET output_usd_per_mtok = NULL WHERE model = ?", [half_known[0]]
    )
    priced = unpriced = 0
    for run_id in ids:
        run = queries.get_run(con.cursor(), run_id)
        attach_run_page_costs(con.cursor(), run)
        assert run["cost_usd"] == pytest.approx(_view_costs(con, [run_id])[run_id])
        by_step = dict(
            con.execute(
                "SELECT step_id, cost_usd FROM step_costs WHERE run_id = ?", [run_id]
            ).fetchall()
        )
        for step in run["steps"]:
            expected = by_step.get(step["id"])  # a step without tokens has no cost
            assert step["cost_usd"] == (None if expected is None else pytest.approx(expected))
            priced += expected is not None
            unpriced += expected is None
    assert priced and unpriced


def test_unpriced_models_are_found_from_the_rows(con: duckdb.DuckDBPyConnection) -> None:
    runs = queries.list_runs(con.cursor(), RunFilters(), limit=200).runs
    assert has_unpriced_models(con.cursor(), runs)  # qwen3:32b lost its price above
    priced = [r for r in runs if (r["model_used"] or r["model_requested"]) != "qwen3:32b"]
    assert priced and not has_unpriced_models(con.cursor(), priced)
    assert not has_unpriced_models(con.cursor(), [])
