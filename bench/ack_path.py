"""Request latency at one request in flight, by way of acknowledging, in one process.

    python -m bench.ack_path --blocks 12 --requests 100

Starts a real collector (gRPC receiver, journal, writer, DuckDB file in a temp
dir) and sends one-run requests (``bench.workload``, 9 spans) from one client,
one at a time. The ways are switched between blocks of ``--requests`` and
alternated, so the machine's load falls on each alike:

- ``inline+dsync``: as shipped: a small request alone is stored on the
  receiver's event-loop thread; an entry alone is written with ``RWF_DSYNC``;
- ``worker+dsync``: every request handed to a worker thread and back;
- ``inline+fdatasync``: every entry written, then ``fdatasync``ed;
- ``worker+fdatasync``: both, as before these two paths existed.

Prints p50 / mean / p90 of the client's request latency per way, and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import grpc

import collector.grpc_server as grpc_server
from bench.workload import WorkloadSpec, generate_requests
from collector.journal import Journal
from collector.server import start_collector
from collector.settings import Settings

__all__ = ["main"]

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
WAYS = ("inline+dsync", "worker+dsync", "inline+fdatasync", "worker+fdatasync")


def _set_way(way: str, journal: Journal, dsync: int | None, inline_bytes: int) -> None:
    grpc_server._INLINE_MAX_BYTES = inline_bytes if way.startswith("inline") else -1
    journal._dsync = dsync if way.endswith("+dsync") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=12, help="blocks per way")
    parser.add_argument("--requests", type=int, default=100, help="requests per block")
    args = parser.parse_args(argv)

    total = args.blocks * args.requests * len(WAYS) + 50
    bodies = [r.body for r in generate_requests(WorkloadSpec(runs=total, runs_per_request=1))]
    took: dict[str, list[float]] = {way: [] for way in WAYS}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="ack-path-") as tmp:
        settings = Settings(db_path=Path(tmp) / "bench.duckdb", grpc_port=0, http_port=0)
        running = start_collector(settings)
        journal = running.store._journal
        assert journal is not None
        dsync, inline_bytes = journal._dsync, grpc_server._INLINE_MAX_BYTES
        try:
            with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
                export = channel.unary_unary(_EXPORT)
                sent = iter(bodies)
                for body in [next(sent) for _ in range(50)]:  # warm up
                    export(body, timeout=60)
                for _ in range(args.blocks):
                    for way in WAYS:
                        _set_way(way, journal, dsync, inline_bytes)
                        for _ in range(args.requests):
                            body = next(sent)
                            began = time.perf_counter()
                            export(body, timeout=60)
                            took[way].append(time.perf_counter() - began)
                    load.append(os.getloadavg()[0])
        finally:
            _set_way("inline+dsync", journal, dsync, inline_bytes)
            running.stop()
    report: dict[str, object] = {
        "requests_per_way": args.blocks * args.requests,
        "loadavg_1m": [min(load), max(load)],
    }
    for way, values in took.items():
        values.sort()
        report[way] = {
            "p50_ms": round(statistics.median(values) * 1000, 3),
            "mean_ms": round(statistics.fmean(values) * 1000, 3),
            "p90_ms": round(values[int(len(values) * 0.9)] * 1000, 3),
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
