"""The collector process keeps out what it does not use (memory: issue targets idle RSS)."""

from __future__ import annotations

from pathlib import Path

import httpx

from bench.reliability.harness import CollectorProcess, GrpcSender, build_run_request


def test_pandas_is_never_loaded_by_a_serving_collector(tmp_path: Path) -> None:
    # DuckDB's and pyarrow's bindings import pandas, when installed, on the first
    # query with parameters or the first Arrow table: ~40 MB the collector never uses.
    collector = CollectorProcess(tmp_path / "lean.duckdb", log_dir=tmp_path / "logs").start()
    sender = GrpcSender(collector.grpc_target)
    try:
        outcome = sender.send(build_run_request(1, 1, 3).protobuf())
        assert outcome.acked, outcome.detail
        with httpx.Client(base_url=collector.api_url, timeout=30) as api:
            runs = api.get("/agent/runs", params={"status": "completed", "limit": 5})
            assert runs.status_code == 200, runs.text
            assert runs.json()["total"] == 1
            rows = api.post("/sql", json={"sql": "SELECT count(*) FROM spans"})
            assert rows.status_code == 200, rows.text
            assert rows.json()["rows"] == [[4]]
        maps = Path(f"/proc/{collector.pid}/maps").read_text()
    finally:
        sender.close()
        collector.terminate()
    assert "/pyarrow/" in maps  # the check reads the right process's libraries
    assert "/pandas/" not in maps
