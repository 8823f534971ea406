"""Ingest benchmark: agent-shaped OTLP load against a collector, measured end to end.

    python -m bench.load --spawn --runs 20000 --runs-per-request 50 --clients 4
    python -m bench.load --spawn --protocol http --gzip
    python -m bench.load --collector http://127.0.0.1:4318 --grpc 127.0.0.1:4317

Reports acknowledged spans/s, request latency p50/p99, end-to-end spans/s (from
the start signal until every span is counted through the REST API: polled with
/healthz committed_spans and the run list's total, then confirmed once by
counting spans, runs and steps with POST /sql), p99 ack -> visible (sampled
runs polled with GET /agent/runs/{id} right after their acknowledgement), the
backlog of acknowledged spans not yet in DuckDB (/healthz queued_spans), and
with --spawn: idle RSS, peak RSS (VmHWM) of the load up to every span visible,
the peak of the final /sql count apart (its first query copies every table into
the /sql worker), DB bytes per span after the collector's shutdown CHECKPOINT.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.collector_proc import (
    REPO,
    RssSampler,
    db_bytes,
    percentile,
    proc_cpu_s,
    proc_status_kb,
    reset_peak_rss,
    spawn_collector,
)
from bench.observers import BacklogSampler, DashboardReaders, VisibilitySampler
from bench.senders import ClientJob, ClientResult, client_process, run_client
from bench.workload import WorkloadSpec, self_check

__all__ = [
    "add_load_arguments",
    "run_load",
    "count_visible",
    "Target",
    "agent_audit_target",
    "run_spawned",
    "add_spawn_arguments",
]

_COUNT_SQL = (
    "SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM agent_runs), "
    "(SELECT count(*) FROM agent_steps)"
)


def count_visible(api: httpx.Client, wait_s: float = 600.0) -> tuple[int, int, int, str]:
    """(spans, runs, steps, how) as the API sees them right now (POST /sql).

    /sql answers 503 while it copies the store for its worker (the first query
    after a start copies it all): that is waited for here, so the copy of a
    large store is neither left running during the load nor counted in it.
    """
    deadline = time.monotonic() + wait_s
    while True:
        response = api.post("/sql", json={"sql": _COUNT_SQL})
        if response.status_code == 200:
            spans, runs, steps = response.json()["rows"][0]
            return int(spans), int(runs), int(steps), "POST /sql"
        if response.status_code != 503 or time.monotonic() > deadline:
            return count_visible_cheaply(api)
        time.sleep(0.5)  # polling interval while the copy runs


def count_visible_cheaply(api: httpx.Client) -> tuple[int, int, int, str]:
    """Spans from /healthz, runs from the run list's total (steps not counted).

    Polled while waiting: /sql copies the tables into its worker whenever they
    changed, which at tens of thousands of spans takes seconds and would be
    counted as ingest time. The final count is confirmed once through /sql.
    """
    health = api.get("/healthz").json()
    page = api.get("/agent/runs", params={"limit": 1})
    runs = int(page.json()["total"]) if page.status_code == 200 else -1
    how = "/healthz committed_spans + GET /agent/runs?limit=1 total"
    return int(health.get("committed_spans", 0)), runs, -1, how


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The load options shared with bench.query and bench.phoenix."""
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=8, help="steps per run (plus the run span)")
    parser.add_argument("--result-bytes", default="1024-4096", help="tool result size range")
    parser.add_argument("--runs-per-request", type=int, default=50)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--client-mode",
        choices=("process", "thread"),
        default="thread",
        help=(
            "thread (default): requests are pre-built, so one process sends them and leaves "
            "more of the cores to the collector; process: one process per client"
        ),
    )
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=300, help="stop sending after this")
    parser.add_argument("--samples", type=int, default=200, help="runs timed ack -> visible")


def spec_from(args: argparse.Namespace) -> WorkloadSpec:
    """The workload the arguments describe."""
    low, _, high = str(args.result_bytes).partition("-")
    return WorkloadSpec(
        runs=args.runs,
        steps=args.steps,
        result_bytes=(int(low), int(high or low)),
        runs_per_request=args.runs_per_request,
        seed=args.seed,
    )


def drive_clients(
    args: argparse.Namespace, spec: WorkloadSpec, grpc_target: str, http_url: str
) -> Any:
    """Start the clients, release them together; return results, start time, sample queue."""
    sample_every = max(1, spec.requests // max(1, args.samples))
    jobs = [
        ClientJob(
            spec=spec,
            index=i,
            clients=args.clients,
            protocol=args.protocol,
            grpc_target=grpc_target,
            http_url=http_url,
            gzip=args.gzip,
            sample_every=sample_every,
            deadline_s=args.max_seconds,
        )
        for i in range(args.clients)
    ]
    results: list[ClientResult] = []
    if args.client_mode == "process":
        ctx = mp.get_context("spawn")
        ready, samples, out = ctx.Queue(), ctx.Queue(), ctx.Queue()
        start = ctx.Event()
        procs = [
            ctx.Process(target=client_process, args=(job, ready, start, samples, out))
            for job in jobs
        ]
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.get(timeout=600)
        return _release(
            start, lambda: [out.get(timeout=args.max_seconds + 600) for _ in procs], procs, samples
        )
    ready_q: queue.Queue[int] = queue.Queue()
    samples_q: queue.Queue[tuple[str, float]] = queue.Queue()
    start_ev = threading.Event()
    threads = [
        threading.Thread(
            target=lambda j=job: results.append(run_client(j, ready_q, start_ev, samples_q))
        )
        for job in jobs
    ]
    for thread in threads:
        thread.start()
    for _ in threads:
        ready_q.get(timeout=600)

    def collect() -> list[ClientResult]:
        for thread in threads:
            thread.join()
        return results

    return _release(start_ev, collect, [], samples_q)


def _release(start: Any, collect: Any, procs: list[Any], samples: Any) -> Any:
    # The sampler must run while the clients send, so hand back a lazy collector.
    t0 = time.monotonic()
    start.set()
    return collect, t0, samples, procs


@dataclass
class Target:
    """Where the load goes and how to count what became visible there."""

    grpc_target: str
    http_url: str
    counter: Callable[[], tuple[int, int, int, str]]
    pid: int | None = None
    sample_visibility: bool = True  # GET /agent/runs/{id} after each sampled ack
    visible_deadline_s: float = 120.0
    close: Callable[[], None] = field(default=lambda: None)
    # Polled until everything is visible (cheaper); ``counter`` then confirms once.
    poller: Callable[[], tuple[int, int, int, str]] | None = None


def agent_audit_target(grpc_target: str, http_url: str, pid: int | None = None) -> Target:
    """An agent-audit collector: counts through its REST API."""
    api = httpx.Client(base_url=http_url, timeout=60)
    return Target(
        grpc_target,
        http_url,
        lambda: count_visible(api),
        pid,
        poller=lambda: count_visible_cheaply(api),
        close=api.close,
    )


def run_load(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    """Run the load and return every figure (see the module docstring)."""
    spec = spec_from(args)
    self_check(spec)
    report: dict[str, Any] = {"spec": spec.__dict__ | {"result_bytes": list(spec.result_bytes)}}
    report |= {
        "protocol": args.protocol,
        "gzip": args.gzip,
        "clients": args.clients,
        "client_mode": args.client_mode,
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
    }
    before = target.counter()
    poll = target.poller or target.counter
    polled_before = poll()
    report["visible_via"] = polled_before[3]
    rss = RssSampler(target.pid) if target.pid else None
    readers = (
        DashboardReaders(target.http_url, args.readers) if getattr(args, "readers", 0) else None
    )
    if rss:
        rss.__enter__()
    if readers:
        readers.__enter__()
    backlog = BacklogSampler(target.http_url)
    backlog.__enter__()
    cpu_before = proc_cpu_s(target.pid) if target.pid else 0.0
    collect, t0, samples, procs = drive_clients(args, spec, target.grpc_target, target.http_url)
    sampler = VisibilitySampler(target.http_url, samples, enabled=target.sample_visibility)
    with sampler:
        results: list[ClientResult] = collect()
    for proc in procs:
        proc.join(30)
    last_ack = max((r.last_ack for r in results), default=t0)
    acked_spans = sum(r.spans for r in results)
    acked_runs = sum(r.runs for r in results)
    acked_steps = acked_spans - acked_runs
    # End to end: every acknowledged span counted where a user would look.
    visible_at = None
    deadline = time.monotonic() + target.visible_deadline_s
    while time.monotonic() < deadline:
        now = poll()
        if (
            now[0] - polled_before[0] >= acked_spans
            and (now[1] < 0 or now[1] - polled_before[1] >= acked_runs)
            and (now[2] < 0 or now[2] - polled_before[2] >= acked_steps)
        ):
            visible_at = time.monotonic()
            break
        time.sleep(0.01 if target.sample_visibility else 0.5)  # polling interval
    # Ingest's own figures end here: the /sql confirmation below is not ingest.
    report["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    if target.pid:
        report["collector_cpu_s"] = round(proc_cpu_s(target.pid) - cpu_before, 2)
        if acked_spans:
            report["collector_cpu_us_per_span"] = round(
                report["collector_cpu_s"] / acked_spans * 1e6, 1
            )
    backlog.__exit__()
    if readers:
        readers.__exit__()
    if rss:
        rss.__exit__()
    sql_peak_apart = False
    if target.pid:
        # The peak of the load itself; the /sql count below gets its own figure
        # (its first query copies every table into the /sql worker).
        report["peak_rss_mb_vmhwm"] = round(proc_status_kb(target.pid, "VmHWM") / 1024, 1)
        sql_peak_apart = reset_peak_rss(target.pid)
    if visible_at is not None and target.poller is not None:
        final = target.counter()
        report["confirmed_via"] = final[3]
        report["confirmed"] = (
            final[0] - before[0] >= acked_spans
            and (final[1] < 0 or final[1] - before[1] >= acked_runs)
            and (final[2] < 0 or final[2] - before[2] >= acked_steps)
        )
        if not report["confirmed"]:
            visible_at = None
    latencies = [x for r in results for x in r.latencies_s]
    send_s = last_ack - t0
    report |= {
        "requests": sum(r.requests for r in results),
        "acked_spans": acked_spans,
        "acked_runs": acked_runs,
        "retries": sum(r.retries for r in results),
        "client_errors": [r.error for r in results if r.error],
        "generate_s_max": round(max(r.generate_s for r in results), 2),
        "send_s": round(send_s, 3),
        "acked_spans_per_s": round(acked_spans / send_s, 1) if send_s else None,
        "request_latency_ms_p50": round(percentile(latencies, 50) * 1000, 2),
        "request_latency_ms_p99": round(percentile(latencies, 99) * 1000, 2),
        "e2e_s": round(visible_at - t0, 3) if visible_at else None,
        "e2e_spans_per_s": round(acked_spans / (visible_at - t0), 1) if visible_at else None,
        "last_ack_to_all_visible_s": round(visible_at - last_ack, 3) if visible_at else None,
    }
    if backlog.queued:
        # Spans acknowledged (or waiting) but not yet in DuckDB, from /healthz every 0.25 s.
        report["queued_spans_max"] = max(backlog.queued)
        report["queued_spans_p50"] = round(percentile(backlog.queued, 50))
        report["commits"] = backlog.commits
    if target.sample_visibility:
        report |= {
            "ack_to_visible_endpoint": sampler.endpoint,
            "ack_to_visible_samples": len(sampler.delays_s),
            "ack_to_visible_missing": sampler.missing,
            "ack_to_visible_ms_p50": round(percentile(sampler.delays_s, 50) * 1000, 2),
            "ack_to_visible_ms_p99": round(percentile(sampler.delays_s, 99) * 1000, 2),
        }
    if readers:
        report["readers"] = args.readers
        report["reader_cycle_ms_p50"] = round(percentile(readers.latencies_s, 50) * 1000, 1)
        report["reader_cycle_ms_p95"] = round(percentile(readers.latencies_s, 95) * 1000, 1)
        report["reader_errors"] = readers.errors
    if rss and target.pid:
        report["rss_mb_max_sampled"] = round(max(rss.samples_kb, default=0) / 1024, 1)
        if sql_peak_apart:
            report["peak_rss_mb_sql_count"] = round(proc_status_kb(target.pid, "VmHWM") / 1024, 1)
    target.close()
    return report


def add_spawn_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for where the load goes (a spawned or a running collector)."""
    parser.add_argument("--spawn", action="store_true", help="start a collector on a temp DB")
    parser.add_argument("--repo", type=Path, default=REPO, help="source tree to spawn from")
    parser.add_argument("--db-from", type=Path, help="with --spawn: start from a copy of this DB")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the collector")
    parser.add_argument("--collector", default="http://127.0.0.1:4318", help="HTTP base URL")
    parser.add_argument("--grpc", default="127.0.0.1:4317", help="gRPC target host:port")
    parser.add_argument("--readers", type=int, default=0, help="dashboard-like pollers (1/s)")
    parser.add_argument("--idle-wait", type=float, default=3.0, help="seconds before idle RSS")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument(
        "--profile", type=Path, help="with --spawn: py-spy record the collector into this file"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_load_arguments(parser)
    add_spawn_arguments(parser)
    args = parser.parse_args(argv)
    report = (
        run_spawned(args)
        if args.spawn
        else run_load(args, agent_audit_target(args.grpc, args.collector))
    )
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if report.get("e2e_s") and not report.get("client_errors") else 1


def run_spawned(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    db_path = workdir / "bench.duckdb"
    if args.db_from:
        _copy_store(args.db_from, db_path)
    env = dict(item.split("=", 1) for item in args.env)
    try:
        collector = spawn_collector(db_path, repo=args.repo, env=env)
        try:
            time.sleep(args.idle_wait)  # let start-up settle before reading idle RSS
            idle_kb = proc_status_kb(collector.pid, "VmRSS")
            profiler = _start_profiler(args.profile, collector.pid) if args.profile else None
            try:
                target = agent_audit_target(
                    collector.grpc_target, collector.http_url, collector.pid
                )
                report = run_load(args, target)
            finally:
                if profiler:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(60)
            report["collector_ready_s"] = round(collector.ready_s, 2)
            report["idle_rss_mb"] = round(idle_kb / 1024, 1)
        finally:
            stop_s = collector.stop()
        start_bytes = (args.db_from.stat().st_size) if args.db_from else 0
        size = db_bytes(db_path)
        report["shutdown_s"] = round(stop_s, 2)
        report["db_bytes"] = size
        if report.get("acked_spans"):
            report["db_bytes_per_span"] = round((size - start_bytes) / report["acked_spans"], 1)
        return report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _copy_store(source: Path, db_path: Path) -> None:
    """The DuckDB file with its chain key and search index, so the collector starts as on it."""
    shutil.copyfile(source, db_path)
    key = source.with_name(source.name + ".key")
    if key.exists():
        shutil.copy(key, db_path.with_name(db_path.name + ".key"))  # keeps its 0600
    index = source.with_name(source.name + ".search")
    if index.is_dir():
        shutil.copytree(index, db_path.with_name(db_path.name + ".search"))


def _start_profiler(out: Path, pid: int) -> subprocess.Popen[bytes]:
    """py-spy in raw (collapsed stacks) format, a line per stack and thread, on-CPU only."""
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "-p",
            str(pid),
            "-o",
            str(out),
            "--format",
            "raw",
            "--threads",
            "--rate",
            "200",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    sys.exit(main())
