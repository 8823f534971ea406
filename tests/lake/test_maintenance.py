"""Compaction keeps many small shipments from becoming many small files; one
collector at a time holds the shared maintenance lease."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc

from bench.workload import WorkloadSpec, generate_requests
from collector.lake.connect import attach_lake, lake_connection
from collector.lake.layout import ROW_GROUP_ROWS
from collector.lake.maintenance import MaintenanceLease, compact_own_tables, maintain_shared
from collector.lake.shipper import Shipper
from tests.conftest import start_test_collector
from tests.lake.conftest import Lake

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _files(path: Path) -> int:
    return sum(1 for _ in path.rglob("*.parquet"))


def test_one_lease_holder_at_a_time(lake: Lake) -> None:
    first, second = MaintenanceLease(lake.dsn), MaintenanceLease(lake.dsn)
    try:
        assert first.try_acquire()
        assert first.try_acquire()  # still held
        assert not second.try_acquire()
        first.release()  # its session ends, as when its collector dies
        assert second.try_acquire()
    finally:
        first.release()
        second.release()


def test_compaction_merges_small_files_and_keeps_every_row(tmp_path: Path, lake: Lake) -> None:
    collector = start_test_collector(tmp_path / "a.duckdb")
    con = lake_connection()
    attach_lake(con, lake.dsn, lake.data_path)
    con.execute("CALL lake.set_option('data_inlining_row_limit', 0)")  # files from the start
    try:
        shipper = Shipper(local_read=collector.store.read, lake=con, alias="lake", schema="c_a")
        with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
            export = channel.unary_unary(_EXPORT)
            for request in generate_requests(WorkloadSpec(runs=60, steps=3, runs_per_request=5)):
                export(request.body, timeout=60)
                shipper.ship_once()  # one small shipment per request
        counts = (
            "SELECT (SELECT count(*) FROM lake.main.spans), "
            "(SELECT count(*) FROM lake.c_a.agent_runs), "
            "(SELECT count(*) FROM lake.c_a.agent_steps)"
        )
        before = con.execute(counts).fetchone()
        files_before = _files(lake.data_path)
        assert files_before >= 24  # 12 shipments, each at least spans + runs + steps

        own = compact_own_tables(con, "lake", "c_a")
        shared = maintain_shared(con, "lake", keep_snapshots=timedelta(0))
        assert own.errors == [] and shared.errors == []
        assert con.execute(counts).fetchone() == before == (240, 60, 180)
        assert _files(lake.data_path) <= files_before // 4
    finally:
        con.close()
        collector.stop()


def test_files_are_sorted_for_lookups_after_compaction(tmp_path: Path, lake: Lake) -> None:
    """A run's steps end up next to each other, runs newest first (what lets a
    lookup skip row groups by their min/max)."""
    collector = start_test_collector(tmp_path / "a.duckdb")
    con = lake_connection()
    attach_lake(con, lake.dsn, lake.data_path)
    con.execute("CALL lake.set_option('data_inlining_row_limit', 0)")
    try:
        shipper = Shipper(local_read=collector.store.read, lake=con, alias="lake", schema="c_a")
        with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
            export = channel.unary_unary(_EXPORT)
            for request in generate_requests(WorkloadSpec(runs=40, steps=3, runs_per_request=5)):
                export(request.body, timeout=60)
                shipper.ship_once()
        assert compact_own_tables(con, "lake", "c_a").errors == []
        options = dict(con.execute("SELECT option_name, value FROM lake.options()").fetchall())
        assert options["parquet_row_group_size"] == str(ROW_GROUP_ROWS)

        def current_file(table: str) -> str:
            files = con.execute(
                "SELECT data_file FROM ducklake_list_files('lake', ?, schema => 'c_a')", [table]
            ).fetchall()
            assert len(files) == 1, files  # merged into one
            return str(files[0][0])

        steps = [
            r[0]
            for r in con.execute(
                "SELECT agent_run_id FROM read_parquet(?)", [current_file("agent_steps")]
            ).fetchall()
        ]
        assert len(steps) == 120 and steps == sorted(steps)
        starts = [
            r[0]
            for r in con.execute(
                "SELECT started_at FROM read_parquet(?)", [current_file("agent_runs")]
            ).fetchall()
        ]
        assert len(starts) == 40 and starts == sorted(starts, reverse=True)
    finally:
        con.close()
        collector.stop()
