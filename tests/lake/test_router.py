"""The trace-id router stand-in: whole traces per collector, fail-over when one is gone."""

from __future__ import annotations

from pathlib import Path

import grpc

from bench.otlp_router import HashRing, start_router
from bench.workload import WorkloadSpec, generate_requests
from tests.conftest import CollectorHandle, start_test_collector

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _send(port: int, spec: WorkloadSpec) -> int:
    spans = 0
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(_EXPORT)
        for request in generate_requests(spec):
            export(request.body, timeout=60)
            spans += request.plan.spans
    return spans


def _traces(collector: CollectorHandle) -> dict[str, int]:
    return dict(collector.query("SELECT trace_id, count(*) FROM spans GROUP BY trace_id"))


def test_ring_is_stable_and_spreads() -> None:
    ring = HashRing(["a:1", "b:1", "c:1"])
    owners = [ring.owner(i.to_bytes(16, "big")) for i in range(3000)]
    assert owners == [ring.owner(i.to_bytes(16, "big")) for i in range(3000)]
    assert all(owners.count(k) > 600 for k in range(3))
    assert sorted(ring.order(b"\x01" * 16)) == [0, 1, 2]


def test_routes_whole_traces_and_fails_over(tmp_path: Path) -> None:
    a = start_test_collector(tmp_path / "a.duckdb")
    b = start_test_collector(tmp_path / "b.duckdb")
    server, router, port = start_router(
        "127.0.0.1:0", [f"127.0.0.1:{a.grpc_port}", f"127.0.0.1:{b.grpc_port}"]
    )
    try:
        spec = WorkloadSpec(runs=60, steps=3, runs_per_request=20, seed=21)
        sent = _send(port, spec)
        traces_a, traces_b = _traces(a), _traces(b)
        assert traces_a and traces_b  # both got work
        assert not traces_a.keys() & traces_b.keys()  # no trace split
        assert sum(traces_a.values()) + sum(traces_b.values()) == sent
        assert set(traces_a.values()) == set(traces_b.values()) == {4}  # whole runs

        b.stop()  # gone: its share goes to a
        more = _send(port, WorkloadSpec(runs=40, steps=3, runs_per_request=20, seed=22))
        assert sum(_traces(a).values()) == sum(traces_a.values()) + more
        assert router.stats.failovers >= 1
    finally:
        server.stop(0)
        router.close()
        a.stop()
        b.stop()
