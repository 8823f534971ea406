"""A dashboard polling stats over a big store while runs arrive: how long each answer takes.

    python -m bench.stats_polling --db-from /tmp/bench-query/1m.duckdb \
        [--baseline-repo /tmp/base] [--rounds 2] [--seconds 60]

For each tree (this one, and ``--baseline-repo`` alternated with it round by
round), a collector is spawned on a fresh copy of ``--db-from``; one client
sends a request of runs every ``--send-every-s`` (new runs, so every stats
answer goes out of date), and a poller asks ``GET /agent/runs/stats`` (all
runs) every ``--poll-every-s``, as the dashboard's stats page does. Printed:
each round's latency percentiles of the polls, and the ratio of this tree's
p50 / p90 to the baseline's. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import httpx

from bench.collector_proc import REPO, percentile, spawn_collector
from bench.workload import WorkloadSpec, generate_requests

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _copy_store(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    for suffix in (".key", ".head"):
        extra = source.with_name(source.name + suffix)
        if extra.exists():
            shutil.copy(extra, target.with_name(target.name + suffix))
    index = source.with_name(source.name + ".search")
    if index.is_dir():
        shutil.copytree(index, target.with_name(target.name + ".search"))


def _send(target: str, stop: threading.Event, every_s: float, sent: list[int]) -> None:
    # Runs timed after the store's newest, so they are the newest runs the stats count.
    spec = WorkloadSpec(runs=100_000, runs_per_request=5, seed=7, base_time_ns=time.time_ns())
    channel = grpc.insecure_channel(target)
    export = channel.unary_unary(_EXPORT)
    for request in generate_requests(spec):
        if stop.is_set():
            break
        export(request.body, timeout=60)
        sent[0] += len(request.plan.run_ids)
        stop.wait(every_s)  # the pace of the load, not a synchronisation
    channel.close()


def one_round(repo: Path, db_from: Path, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="agent-audit-stats-"))
    db = workdir / "bench.duckdb"
    try:
        _copy_store(db_from, db)
        collector = spawn_collector(db, repo=repo)
        latencies: list[float] = []
        sent = [0]
        stop = threading.Event()
        try:
            with httpx.Client(base_url=collector.http_url, timeout=120) as client:
                started = time.perf_counter()
                client.get("/agent/runs/stats").raise_for_status()  # the first, with nothing kept
                first_ms = (time.perf_counter() - started) * 1000
                sender = threading.Thread(
                    target=_send, args=(collector.grpc_target, stop, args.send_every_s, sent)
                )
                sender.start()
                deadline = time.monotonic() + args.seconds
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    client.get("/agent/runs/stats").raise_for_status()
                    latencies.append((time.perf_counter() - started) * 1000)
                    stop.wait(args.poll_every_s)  # the dashboard's pace
                stop.set()
                sender.join(120)
        finally:
            collector.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "polls": len(latencies),
        "runs_sent": sent[0],
        "first_ms": round(first_ms, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p90_ms": round(percentile(latencies, 90), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "over_50ms": sum(1 for v in latencies if v > 50),
        "loadavg": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-from", type=Path, required=True, help="the big store to copy")
    parser.add_argument("--baseline-repo", type=Path, help="an older tree, alternated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0, help="polling time per round")
    parser.add_argument("--poll-every-s", type=float, default=1.0)
    parser.add_argument("--send-every-s", type=float, default=0.5)
    args = parser.parse_args(argv)
    trees = {"this": REPO, **({"baseline": args.baseline_repo} if args.baseline_repo else {})}
    report: dict[str, Any] = {"cpus": os.cpu_count(), "rounds": {name: [] for name in trees}}
    for _ in range(args.rounds):
        for name, repo in trees.items():
            report["rounds"][name].append(one_round(repo, args.db_from, args))
            print(name, json.dumps(report["rounds"][name][-1]), flush=True)
    if args.baseline_repo:
        for key in ("p50_ms", "p90_ms"):
            ours = [r[key] for r in report["rounds"]["this"]]
            theirs = [r[key] for r in report["rounds"]["baseline"]]
            report[f"{key}_ratio"] = [
                round(t / o, 1) if o else None for o, t in zip(ours, theirs, strict=True)
            ]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
