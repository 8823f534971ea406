"""Two collectors' stores into one lake: each acknowledges locally, both read everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.workload import WorkloadSpec, generate_requests
from collector.decode import decode_protobuf
from collector.lake.store import LakeOptions, LakeStore
from collector.store import StoreOpenError
from tests.lake.conftest import Lake
from tests.support import wait_until


def _store(path: Path, lake: Lake, cid: str) -> LakeStore:
    options = LakeOptions(
        catalog_dsn=lake.dsn, data_path=str(lake.data_path), collector_id=cid, ship_interval_s=0.1
    )
    return LakeStore(path, options)


def _write(store: LakeStore, spec: WorkloadSpec) -> set[str]:
    run_ids: set[str] = set()
    for request in generate_requests(spec):
        store.write_spans(decode_protobuf(request.body).spans)
        run_ids.update(request.plan.run_ids)
    return run_ids


def _lake_runs(store: LakeStore) -> set[str]:
    return {
        r[0] for r in store.read(lambda cur: cur.execute("SELECT id FROM agent_runs").fetchall())
    }


def test_two_collectors_one_query_surface(tmp_path: Path, lake: Lake) -> None:
    a = _store(tmp_path / "a.duckdb", lake, "a")
    b = _store(tmp_path / "b.duckdb", lake, "b")
    try:
        runs_a = _write(a, WorkloadSpec(runs=30, steps=3, runs_per_request=10, seed=11))
        runs_b = _write(b, WorkloadSpec(runs=20, steps=3, runs_per_request=10, seed=12))
        assert not runs_a & runs_b
        # Each store answers for both collectors once the shippers have run.
        wait_until(lambda: _lake_runs(a) == runs_a | runs_b, timeout_s=30, what="a sees all")
        wait_until(lambda: _lake_runs(b) == runs_a | runs_b, timeout_s=30, what="b sees all")
        steps = a.read(lambda cur: cur.execute("SELECT count(*) FROM agent_steps").fetchone())
        assert steps == (50 * 3,)
        status = wait_until(
            lambda: (s := a.lake_status())["unshipped_spans"] == 0 and s, what="a shipped"
        )
        assert status["collectors_in_lake"] == 2
        assert status["shipped_seq"] == 30 * 4  # every span of its 30 runs
        # The figures bench/scale_out.py divides by spans: what shipping and
        # lake reads cost this collector.
        assert status["shipped_spans"] == 30 * 4
        assert status["lake_commits"] >= 1 and status["lake_commit_s"] > 0
        assert status["shipper_cpu_s"] > 0
        assert status["lake_reads"] >= 3 and status["lake_read_cpu_s"] > 0
        # The local file still holds only its own runs.
        local = a.read_local(lambda cur: cur.execute("SELECT count(*) FROM agent_runs").fetchone())
        assert local == (30,)
    finally:
        a.close()
        b.close()


def test_the_local_file_keeps_its_collector_id(tmp_path: Path, lake: Lake) -> None:
    first = _store(tmp_path / "a.duckdb", lake, "a")
    first.close()
    with pytest.raises(StoreOpenError, match="ships to the lake as 'a'"):
        _store(tmp_path / "a.duckdb", lake, "other")
