"""Shipping a collector's local commits into the lake: complete, exactly once, restartable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import grpc
import pytest

from bench.workload import WorkloadSpec, generate_requests
from collector.ingest import mark_lost_runs
from collector.lake.connect import attach_lake, lake_connection
from collector.lake.shipper import Shipper, WrongLocalFile
from instrumentation.clock import utc_now
from tests.conftest import CollectorHandle, start_test_collector
from tests.lake.conftest import Lake
from tests.reliability.test_agent_side import AgentProcess
from tests.support import wait_until

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _send(collector: CollectorHandle, spec: WorkloadSpec) -> int:
    spans = 0
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        export = channel.unary_unary(_EXPORT)
        for request in generate_requests(spec):
            export(request.body, timeout=60)  # returns after the local commit
            spans += request.plan.spans
    return spans


def _lake(lake: Lake) -> duckdb.DuckDBPyConnection:
    con = lake_connection()
    attach_lake(con, lake.dsn, lake.data_path)
    return con


def _shipper(collector: CollectorHandle, con: duckdb.DuckDBPyConnection, cid: str) -> Shipper:
    return Shipper(
        local_read=collector.store.read, lake=con, alias="lake", schema=f"c_{cid}", max_spans=500
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return sorted(con.execute(sql).fetchall(), key=repr)


def test_ships_every_span_and_row_once(tmp_path: Path, lake: Lake) -> None:
    collector = start_test_collector(tmp_path / "a.duckdb")
    try:
        sent = _send(collector, WorkloadSpec(runs=120, steps=4, runs_per_request=20, seed=3))
        con = _lake(lake)
        shipper = _shipper(collector, con, "a")
        assert shipper.ship_all() == sent  # in several passes of at most 500 spans
        assert shipper.ship_once() is None
        assert con.execute("SELECT count(*) FROM lake.main.spans").fetchone() == (sent,)
        local_runs = collector.query("SELECT id, status, total_steps FROM agent_runs")
        lake_runs = _rows(con, "SELECT id, status, total_steps FROM lake.c_a.agent_runs")
        assert len(local_runs) == 120
        assert lake_runs == sorted(local_runs, key=repr)
        local_steps = collector.query("SELECT id, step_number, tool_name FROM agent_steps")
        lake_steps = _rows(con, "SELECT id, step_number, tool_name FROM lake.c_a.agent_steps")
        assert lake_steps == sorted(local_steps, key=repr)

        # A restarted shipper reads its watermark back from the lake: nothing twice.
        again = _shipper(collector, _lake(lake), "a")
        assert again.mark_seq == shipper.mark_seq
        assert again.ship_once() is None
        more = _send(collector, WorkloadSpec(runs=10, steps=4, runs_per_request=10, seed=4))
        assert again.ship_all() == more
        assert con.execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM lake.main.spans"
        ).fetchone() == (sent + more, sent + more)
    finally:
        collector.stop()


def test_ships_runs_that_change_without_a_new_span(tmp_path: Path, lake: Lake) -> None:
    collector = start_test_collector(tmp_path / "a.duckdb")
    agent = AgentProcess(collector.grpc_endpoint, tmp_path / "agent.log")
    try:
        # An agent that dies with its run open (a process that shuts its tracing down
        # sends a last copy that ends the run): the pending copy keeps it 'running'
        # until the silence rule marks it lost.
        run_id = agent.ask("open")["run_id"]
        wait_until(
            lambda: collector.query("SELECT id, status FROM agent_runs") == [(run_id, "running")],
            what="the running run",
        )
        agent.kill()
        con = _lake(lake)
        shipper = _shipper(collector, con, "a")
        shipper.ship_all()
        later = utc_now() + timedelta(days=1)
        lost = collector.store.write(lambda c: mark_lost_runs(c, later, 1.0))
        assert lost == 1
        assert shipper.ship_once() is not None  # no new span, but a row changed
        assert con.execute("SELECT status FROM lake.c_a.agent_runs").fetchall() == [("lost",)]
        assert shipper.ship_once() is None
    finally:
        agent.kill()
        collector.stop()


def test_refuses_a_different_local_file_under_the_same_id(tmp_path: Path, lake: Lake) -> None:
    first = start_test_collector(tmp_path / "a.duckdb")
    try:
        _send(first, WorkloadSpec(runs=5, steps=2, runs_per_request=5, seed=5))
        _shipper(first, _lake(lake), "a").ship_all()
    finally:
        first.stop()
    other = start_test_collector(tmp_path / "b.duckdb")
    try:
        _send(other, WorkloadSpec(runs=5, steps=2, runs_per_request=5, seed=6))
        with pytest.raises(WrongLocalFile, match="not the file that shipped"):
            _shipper(other, _lake(lake), "a")
    finally:
        other.stop()
