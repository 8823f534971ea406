"""Does reading block ingest? Stats queries over a large table while spans arrive.

    python -m bench.read_while_ingest --preload-runs 50000 --runs 10000

Spawns ``agent-audit collector`` on a fresh DuckDB file, preloads agent-shaped
runs over OTLP/gRPC, then measures three phases on the same collector:

1. ingest alone: spans/s and acknowledgement latency;
2. ingest while a reader loops over ``GET /agent/runs/stats`` (all runs) and
   the first page of ``GET /agent/runs``: the same ingest figures, plus the
   readers' latencies;
3. the readers alone, for comparison.

Phases 1 and 2 send different runs of the same shape. Requests are encoded
before the clock starts. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import httpx

from bench.collector_proc import percentile, spawn_collector
from bench.workload import WorkloadSpec, generate_requests

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@dataclass
class IngestResult:
    """What the senders saw."""

    spans: int = 0
    seconds: float = 0.0
    ack_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {
            "spans": self.spans,
            "seconds": round(self.seconds, 2),
            "spans_per_s": round(self.spans / self.seconds) if self.seconds else 0,
            "ack_p50_ms": round(percentile(self.ack_ms, 50), 1),
            "ack_p99_ms": round(percentile(self.ack_ms, 99), 1),
        }


def send_all(target: str, spec: WorkloadSpec, clients: int) -> IngestResult:
    """Send every request of ``spec`` with ``clients`` threads, one request in flight each."""
    bodies = [(r.body, r.plan.spans) for r in generate_requests(spec)]
    result = IngestResult()
    lock = threading.Lock()

    def client(index: int) -> None:
        channel = grpc.insecure_channel(
            target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
        )
        export = channel.unary_unary(_EXPORT)
        for body, spans in bodies[index::clients]:
            while True:
                started = time.perf_counter()
                try:
                    export(body, timeout=120)
                except grpc.RpcError as exc:
                    if exc.code() == grpc.StatusCode.UNAVAILABLE:
                        time.sleep(0.2)  # the collector asked to retry
                        continue
                    raise
                with lock:
                    result.ack_ms.append((time.perf_counter() - started) * 1000)
                    result.spans += spans
                break
        channel.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


class Readers:
    """Loops over the dashboard's heaviest reads until stopped; records latencies."""

    def __init__(self, api: str, pause_s: float) -> None:
        self._client = httpx.Client(base_url=api, timeout=120)
        self._pause_s = pause_s
        self._stop = threading.Event()
        self.latency_ms: dict[str, list[float]] = {"stats": [], "first_page": []}
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _timed(self, name: str, path: str, params: dict[str, Any]) -> None:
        started = time.perf_counter()
        response = self._client.get(path, params=params)
        response.raise_for_status()
        self.latency_ms[name].append((time.perf_counter() - started) * 1000)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._timed("stats", "/agent/runs/stats", {})
            self._timed("first_page", "/agent/runs", {"limit": 50})
            self._stop.wait(self._pause_s)

    def __enter__(self) -> Readers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(120)
        self._client.close()

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "calls": len(values),
                "p50_ms": round(percentile(values, 50), 1),
                "p95_ms": round(percentile(values, 95), 1),
                "max_ms": round(max(values), 1) if values else float("nan"),
            }
            for name, values in self.latency_ms.items()
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preload-runs", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=10_000, help="runs sent in each ingest phase")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--runs-per-request", type=int, default=50)
    parser.add_argument("--reader-pause-s", type=float, default=0.0)
    parser.add_argument("--readers-alone-s", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="keep the database directory")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="agent-audit-bench-"))
    collector = spawn_collector(workdir / "bench.duckdb")
    base = WorkloadSpec(
        runs=args.preload_runs,
        steps=args.steps,
        runs_per_request=args.runs_per_request,
        run_spacing_ns=2 * 10**9,  # runs spread over days, so stats bucket by day
    )
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()},
        "spec": {"preload_runs": args.preload_runs, "runs": args.runs, "steps": args.steps,
                 "clients": args.clients, "runs_per_request": args.runs_per_request},
    }  # fmt: skip
    try:
        report["preload"] = send_all(collector.grpc_target, base, args.clients).summary()
        alone = replace(base, runs=args.runs, seed=2, base_time_ns=base.base_time_ns + 10**15)
        report["ingest_alone"] = send_all(collector.grpc_target, alone, args.clients).summary()
        with_readers = replace(alone, seed=3, base_time_ns=alone.base_time_ns + 10**15)
        with Readers(collector.http_url, args.reader_pause_s) as readers:
            report["ingest_with_readers"] = send_all(
                collector.grpc_target, with_readers, args.clients
            ).summary()
        report["readers_during_ingest"] = readers.summary()
        with Readers(collector.http_url, args.reader_pause_s) as quiet:
            time.sleep(args.readers_alone_s)  # measuring window
        report["readers_alone"] = quiet.summary()
        total = httpx.get(collector.http_url + "/agent/runs", params={"limit": 1}).json()
        report["runs_in_db"] = total["total"]
        report["machine"]["loadavg_after"] = os.getloadavg()
    finally:
        collector.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    alone_rate = report["ingest_alone"]["spans_per_s"]
    busy_rate = report["ingest_with_readers"]["spans_per_s"]
    report["ingest_cost_of_readers_pct"] = (
        round(100 * (1 - busy_rate / alone_rate), 1) if alone_rate else None
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
