"""Where a gRPC export is stored: a small request arriving alone on the receiver's
event loop thread (no hand-off to a worker and back), anything else on a worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from bench.workload import WorkloadSpec, generate_requests
from collector.grpc_server import _INLINE_MAX_BYTES
from tests.conftest import start_test_collector

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _export(port: int, body: bytes) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        channel.unary_unary(_EXPORT)(body, timeout=30)


def _workers_started(handle: Any) -> int:
    return len(handle.running.grpc_server._workers._threads)


def _spans(handle: Any) -> int:
    return int(handle.query("SELECT count(*) FROM spans")[0][0])


def test_a_small_request_alone_is_stored_without_a_worker_and_a_large_one_with(
    tmp_path: Path,
) -> None:
    small, *_ = generate_requests(WorkloadSpec(runs=1, runs_per_request=1, seed=3))
    large, *_ = generate_requests(WorkloadSpec(runs=40, runs_per_request=40, seed=4))
    assert len(small.body) <= _INLINE_MAX_BYTES < len(large.body)
    handle = start_test_collector(tmp_path / "audit.duckdb")
    try:
        _export(handle.grpc_port, small.body)
        assert _spans(handle) == small.plan.spans  # acknowledged, then readable
        assert _workers_started(handle) == 0
        _export(handle.grpc_port, large.body)
        assert _spans(handle) == small.plan.spans + large.plan.spans
        assert _workers_started(handle) >= 1
    finally:
        handle.stop()


def test_without_the_journal_every_request_goes_to_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the journal (an in-memory store) a write waits for its commit: never
    # on the event loop.
    monkeypatch.chdir(tmp_path)  # an in-memory store keeps its chain key in the cwd
    small, *_ = generate_requests(WorkloadSpec(runs=1, runs_per_request=1, seed=5))
    handle = start_test_collector(Path(":memory:"))
    try:
        _export(handle.grpc_port, small.body)
        assert _spans(handle) == small.plan.spans
        assert _workers_started(handle) >= 1
    finally:
        handle.stop()
