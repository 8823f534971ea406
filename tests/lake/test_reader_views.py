"""The lake's views read only the collector tables that hold rows, and follow them as they fill.

An empty table costs every query over a view its own catalog reads (DuckLake
has no statistics to cache for it), so the views take the empty ones with
``WHERE false``: a collector that shipped nothing yet, a ``cancel_requests``
nobody wrote.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from bench.workload import WorkloadSpec, generate_requests
from collector.decode import decode_protobuf
from collector.lake.connect import attach_lake, lake_connection
from collector.lake.reader import _union_members
from collector.lake.store import LakeOptions, LakeStore
from tests.lake.conftest import Lake
from tests.support import wait_until


def _store(path: Path, lake: Lake, cid: str) -> LakeStore:
    options = LakeOptions(
        catalog_dsn=lake.dsn, data_path=str(lake.data_path), collector_id=cid, ship_interval_s=0.1
    )
    return LakeStore(path, options)


def _runs(store: LakeStore) -> set[str]:
    return {r[0] for r in store.read(lambda c: c.execute("SELECT id FROM agent_runs").fetchall())}


def _view_sql(store: LakeStore, view: str) -> str:
    row = store.read(
        lambda c: c.execute(
            "SELECT sql FROM duckdb_views() WHERE database_name = 'memory' AND view_name = ?",
            [view],
        ).fetchone()
    )
    assert row is not None
    return str(row[0])


def test_views_leave_out_empty_tables_and_take_them_in_once_they_fill(
    tmp_path: Path, lake: Lake
) -> None:
    a = _store(tmp_path / "a.duckdb", lake, "a")
    b = _store(tmp_path / "b.duckdb", lake, "b")
    try:
        first: set[str] = set()
        for request in generate_requests(WorkloadSpec(runs=10, steps=2, seed=3)):
            a.write_spans(decode_protobuf(request.body).spans)
            first.update(request.plan.run_ids)
        wait_until(lambda: _runs(b) == first, timeout_s=30, what="b sees a's runs")
        assert b.lake_status()["collectors_in_lake"] == 2
        # b shipped nothing: its tables are not read; nobody asked to cancel.
        runs_view = _view_sql(b, "agent_runs")
        assert "c_a.agent_runs)" in runs_view and "c_b.agent_runs WHERE " in runs_view
        cancels = _view_sql(b, "cancel_requests")
        assert cancels.count("FROM lake.") == cancels.count("cancel_requests WHERE ") == 2
        second: set[str] = set()
        for request in generate_requests(WorkloadSpec(runs=5, steps=2, seed=4)):
            b.write_spans(decode_protobuf(request.body).spans)
            second.update(request.plan.run_ids)
        # Once b's tables hold rows, both collectors' views take them in.
        wait_until(lambda: _runs(a) == first | second, timeout_s=30, what="a sees b's runs")
        wait_until(lambda: _runs(b) == first | second, timeout_s=30, what="b sees its runs")
        assert "c_b.agent_runs WHERE " not in _view_sql(b, "agent_runs")
    finally:
        a.close()
        b.close()


def test_an_empty_table_keeps_its_columns_in_the_view(lake: Lake) -> None:
    con: duckdb.DuckDBPyConnection = lake_connection()
    try:
        attach_lake(con, lake.dsn, lake.data_path, alias="lake")
        for schema, extra in (("c_1", ""), ("c_2", ", newer VARCHAR")):
            con.execute(f"CREATE SCHEMA lake.{schema}")
            con.execute(f"CREATE TABLE lake.{schema}.agent_runs (id VARCHAR{extra})")
        con.execute("INSERT INTO lake.c_1.agent_runs VALUES ('run-1')")
        members = _union_members(con, ["c_1", "c_2"])
        assert members["agent_runs"] == [
            "SELECT * FROM lake.c_1.agent_runs",
            "SELECT * FROM lake.c_2.agent_runs WHERE false",
        ]
        union = " UNION ALL BY NAME ".join(f"({part})" for part in members["agent_runs"])
        rows = con.execute(f"SELECT id, newer FROM ({union})").fetchall()
        assert rows == [("run-1", None)]  # c_2's newer column is there, its (no) rows not read
        # A table no collector has yet: the view still names one schema's.
        assert members["cancel_requests"] == ["SELECT * FROM lake.c_1.cancel_requests WHERE false"]
    finally:
        con.close()
