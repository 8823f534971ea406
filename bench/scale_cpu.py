"""CPU seconds per component of a scale-out run, and the router measured alone.

Components: the router, each collector split into its shipping thread, its
API reads over the lake (the collector reports both threads' CPU in
``/healthz``; the benchmark's own visibility polling is such reads) and the
rest (receive, local commit, DuckDB worker threads), PostgreSQL (postmaster
and its backends), and the load generator's client processes (on the same
cores here, so it is shown too).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx

from bench.collector_proc import REPO, proc_cpu_s
from bench.pg_cluster import PostgresCluster

__all__ = ["CpuSample", "postgres_cpu_s", "sample_cpu", "router_alone"]

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def postgres_cpu_s(cluster: PostgresCluster) -> float:
    """The postmaster and its current backends (ended backends' CPU is in cutime)."""
    pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return proc_cpu_s(pid) + sum(proc_cpu_s(int(c)) for c in children)


@dataclass
class CpuSample:
    """Cumulative CPU seconds per component at one moment."""

    router: float
    collectors: float
    shippers: float
    api_reads: float
    postgres: float
    clients: float
    lake_commits: int
    lake_commit_s: float
    at: float = field(default_factory=time.monotonic)

    def minus(self, before: CpuSample) -> dict[str, float]:
        return {
            "router": self.router - before.router,
            "collectors_receive": (self.collectors - self.shippers - self.api_reads)
            - (before.collectors - before.shippers - before.api_reads),
            "shippers": self.shippers - before.shippers,
            "api_reads": self.api_reads - before.api_reads,
            "postgres": self.postgres - before.postgres,
            "load_generator": self.clients - before.clients,
            "lake_commits": float(self.lake_commits - before.lake_commits),
            "lake_commit_s": self.lake_commit_s - before.lake_commit_s,
            "wall_s": self.at - before.at,
        }


def sample_cpu(
    router_pid: int,
    collectors: list[Any],
    cluster: PostgresCluster,
    client_pids: list[int],
) -> CpuSample:
    lake = [
        httpx.get(c.http_url + "/healthz", timeout=60).json().get("lake", {}) for c in collectors
    ]
    return CpuSample(
        router=proc_cpu_s(router_pid),
        collectors=sum(proc_cpu_s(c.pid) for c in collectors),
        shippers=sum(float(h.get("shipper_cpu_s", 0.0)) for h in lake),
        api_reads=sum(float(h.get("lake_read_cpu_s", 0.0)) for h in lake),
        postgres=postgres_cpu_s(cluster),
        clients=sum(proc_cpu_s(p) for p in client_pids),
        lake_commits=sum(int(h.get("lake_commits", 0)) for h in lake),
        lake_commit_s=sum(float(h.get("lake_commit_s", 0.0)) for h in lake),
    )


# --- the router alone, in front of sinks that acknowledge at once ------------------
def _sink(ports: Any) -> None:
    """An OTLP/gRPC server that acknowledges every request unread (a far-edge fake)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        _SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(lambda body, ctx: b"")}
    )
    server.add_generic_rpc_handlers((handler,))
    ports.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    server.wait_for_termination()


def router_alone(
    backends: int,
    run_clients: Callable[[int], tuple[float, list[int]]],
    spans: int,
) -> dict[str, float]:
    """Drive the same load through the router into ``backends`` sinks.

    ``run_clients(port)`` sends the load and returns (seconds, client pids).
    """
    ctx = mp.get_context("spawn")
    ports: Any = ctx.Queue()
    sinks = [ctx.Process(target=_sink, args=(ports,), daemon=True) for _ in range(backends)]
    for sink in sinks:
        sink.start()
    targets = [f"127.0.0.1:{ports.get(timeout=60)}" for _ in sinks]
    router = subprocess.Popen(
        [sys.executable, "-m", "bench.otlp_router", "--listen", "127.0.0.1:0"]
        + [arg for t in targets for arg in ("--backend", t)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert router.stdout is not None
        port = int(router.stdout.readline().split("port ")[1].split()[0])
        before = proc_cpu_s(router.pid)
        sinks_before = sum(proc_cpu_s(s.pid or 0) for s in sinks)
        seconds, _ = run_clients(port)
        router_cpu = proc_cpu_s(router.pid) - before
        sinks_cpu = sum(proc_cpu_s(s.pid or 0) for s in sinks) - sinks_before
        return {
            "spans_per_s": round(spans / seconds),
            "router_cpu_us_per_span": round(router_cpu / spans * 1e6, 1),
            "router_cores_busy": round(router_cpu / seconds, 2),
            "sinks_cpu_us_per_span": round(sinks_cpu / spans * 1e6, 1),
        }
    finally:
        router.terminate()
        router.wait(30)
        for sink in sinks:
            sink.terminate()
            sink.join(10)
