"""A run page where the store has no indexes (a lake): the run is found by its steps' times.

``get_run`` then looks the run up by id within a window of start times its
first step gives, and by id alone when that window misses; the answer must be
the one the indexed file gives, whatever the steps' times say.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from bench.dataset import build_via_sql
from collector import queries
from collector.query_snapshot import has_step_index, without_indexes


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lookup")
    indexed = root / "indexed.duckdb"
    build_via_sql(indexed, runs=400, chunk=200, progress=False, spans=False, running=3)
    con = duckdb.connect(str(indexed))
    try:
        ids = [
            r[0] for r in con.execute("SELECT id FROM agent_runs ORDER BY id LIMIT 4").fetchall()
        ]
        # Steps that began three days after their run (outside the window), an hour
        # and a half before it (clock skew past the margin), without a start, none.
        con.execute(
            "UPDATE agent_steps SET started_at = started_at + INTERVAL 3 DAY "
            "WHERE agent_run_id = ?",
            [ids[0]],
        )
        con.execute(
            "UPDATE agent_steps SET started_at = "
            "(SELECT started_at FROM agent_runs WHERE id = ?) - INTERVAL 90 MINUTE "
            "WHERE agent_run_id = ?",
            [ids[1], ids[1]],
        )
        con.execute("UPDATE agent_steps SET started_at = NULL WHERE agent_run_id = ?", [ids[2]])
        con.execute("DELETE FROM agent_steps WHERE agent_run_id = ?", [ids[3]])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    plain = root / "plain.duckdb"
    plain.write_bytes(indexed.read_bytes())
    con = duckdb.connect(str(plain))
    try:
        con.execute("DROP INDEX agent_steps_run_id")
    finally:
        con.close()
    return indexed, plain


def test_every_run_reads_the_same_without_the_index(stores: tuple[Path, Path]) -> None:
    indexed, plain = (duckdb.connect(str(p), read_only=True) for p in stores)
    try:
        ids = [r[0] for r in indexed.execute("SELECT id FROM agent_runs ORDER BY id").fetchall()]
        now = queries.utc_now()
        for run_id in ids:
            expected = queries.get_run(indexed.cursor(), run_id, now=now)
            assert queries.get_run(plain.cursor(), run_id, now=now) == expected, run_id
        # The odd ones above are among them, and a run with steps has them all.
        assert queries.get_run(plain.cursor(), ids[3], now=now)["steps"] == []
        assert len(queries.get_run(plain.cursor(), ids[0], now=now)["steps"]) > 0
        with pytest.raises(queries.RunNotFound):
            queries.get_run(plain.cursor(), "no-such-run")
    finally:
        indexed.close()
        plain.close()


def test_a_reader_without_indexes_gets_the_same_answers_from_an_indexed_file(
    stores: tuple[Path, Path],
) -> None:
    # The lake's reader says so (without_indexes) rather than have each query ask.
    con = duckdb.connect(str(stores[0]), read_only=True)
    try:
        assert has_step_index(con.cursor())
        with without_indexes():
            assert not has_step_index(con.cursor())
        assert has_step_index(con.cursor())
        now = queries.utc_now()
        for (run_id,) in con.execute("SELECT id FROM agent_runs ORDER BY id LIMIT 20").fetchall():
            expected = queries.get_run(con.cursor(), run_id, now=now)
            with without_indexes():
                assert queries.get_run(con.cursor(), run_id, now=now) == expected
    finally:
        con.close()


def test_a_cut_run_page_reads_the_same_and_costs_every_step_without_the_index(
    stores: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector.page_costs import attach_run_page_costs

    monkeypatch.setattr(queries, "RUN_PAGE_STEPS", 2)
    priced = []
    for store in stores:
        copy = tmp_path / store.name
        copy.write_bytes(store.read_bytes())
        with duckdb.connect(str(copy)) as con:
            # A price for every model named, so a cost over two steps differs from the run's.
            con.execute(
                "INSERT INTO model_prices SELECT DISTINCT coalesce(s.model, r.model_used, "
                "r.model_requested), coalesce(r.provider, ''), 1.5, 6.0, 'override', now() "
                "FROM agent_steps s JOIN agent_runs r ON r.id = s.agent_run_id "
                "WHERE coalesce(s.model, r.model_used, r.model_requested) IS NOT NULL "
                "ON CONFLICT DO NOTHING"
            )
        priced.append(copy)
    indexed, plain = (duckdb.connect(str(p), read_only=True) for p in priced)
    try:
        rows = indexed.execute(
            "SELECT run_id, cost_usd FROM run_costs r JOIN agent_runs a ON a.id = r.run_id "
            "WHERE a.total_steps > 2 AND r.cost_usd > 0 ORDER BY run_id LIMIT 20"
        ).fetchall()
        assert len(rows) == 20
        now = queries.utc_now()
        for run_id, cost in rows:
            pages = [queries.get_run(con.cursor(), run_id, now=now) for con in (indexed, plain)]
            for con, page in zip((indexed, plain), pages, strict=True):
                assert page["steps_truncated"] is True and len(page["steps"]) == 2
                attach_run_page_costs(con.cursor(), page)
            costs = [page.pop("cost_usd") for page in pages]  # summed in another order
            assert pages[0] == pages[1], run_id
            assert costs == [pytest.approx(cost), pytest.approx(cost)], run_id
    finally:
        indexed.close()
        plain.close()
