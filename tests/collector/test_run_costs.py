"""A page's run costs: the same figures as the run_costs view, which reads every step."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from bench.dataset import build_via_sql
from collector.costs import run_costs
from collector.pricing import PriceBook, refresh_model_prices


def test_run_costs_of_a_page_match_the_view(tmp_path: Path) -> None:
    db = tmp_path / "audit.duckdb"
    build_via_sql(db, runs=600, chunk=200, progress=False, spans=False, running=3)
    con = duckdb.connect(str(db))
    try:
        # One model priced by override, one left unknown (NULL), the others as the book says.
        book = PriceBook({"gpt-4.1": (2.0, 8.0)})
        refresh_model_prices(con, book, now=datetime(2026, 9, 1))
        con.execute("DELETE FROM model_prices WHERE model = 'qwen3:32b'")
        # A run whose steps have no start time: they count too (its own token totals,
        # made different here, would give another cost).
        undated = (
            "(SELECT id FROM agent_runs WHERE model_used = 'gpt-4.1' "
            "ORDER BY started_at DESC LIMIT 1)"
        )
        con.execute(f"UPDATE agent_steps SET started_at = NULL WHERE agent_run_id = {undated}")
        con.execute(f"UPDATE agent_runs SET input_tokens = 10 ** 9 WHERE id = {undated}")
        for where in ("TRUE", "status = 'failed'", "started_at < '2026-08-01 00:05:00'"):
            ids = [
                row[0]
                for row in con.execute(
                    f"SELECT id FROM agent_runs WHERE {where} ORDER BY started_at DESC LIMIT 50"
                ).fetchall()
            ]
            view = dict(
                con.execute(
                    "SELECT run_id, cost_usd FROM run_costs WHERE run_id IN (SELECT unnest(?))",
                    [ids],
                ).fetchall()
            )
            page = run_costs(con, [*ids, "no-such-run"])
            assert set(page) == set(view) == set(ids)
            assert any(cost is None for cost in view.values())
            assert any(cost for cost in view.values())
            for run_id, cost in view.items():
                assert page[run_id] == (None if cost is None else pytest.approx(cost)), run_id
    finally:
        con.close()
