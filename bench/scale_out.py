"""Scale-out benchmark: N collectors into one DuckLake, and queries over the lake.

    PYTHONPATH=$PWD python -m bench.scale_out throughput --collectors 1,2,3 --runs 3000
    PYTHONPATH=$PWD python -m bench.scale_out query --runs 100000

``throughput``: for each N, a fresh lake (PostgreSQL catalog from
bench/pg_cluster.py, data in a temporary directory), N ``agent-audit
collector`` processes in lake mode, the trace-id router (bench/otlp_router.py)
in front, and the same load from client processes through the router. Prints
acknowledged spans/s, the time until every run is visible through the API
(end to end, over the lake), the scaling ratio against N=1, and CPU seconds per
1,000 spans of the collectors, the router and PostgreSQL.

``query`` (bench/scale_query.py): the same synthetic runs in a single DuckDB
file and in a lake; the API's calls timed against a collector on each
(p50/p95 ms).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import httpx

from bench.collector_proc import REPO, percentile, spawn_collector
from bench.pg_cluster import PG_BIN, PostgresCluster, start_postgres
from bench.scale_cpu import router_alone, sample_cpu
from bench.scale_paper import extrapolate, format_paper
from bench.workload import WorkloadSpec, generate_requests

__all__ = ["main"]

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _create_db(cluster: PostgresCluster, name: str) -> str:
    subprocess.run(
        [
            str(PG_BIN / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            "-d",
            cluster.dbname,
            "-c",
            f"CREATE DATABASE {name}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return f"postgres://postgres@127.0.0.1:{cluster.port}/{name}"


def _client(port: int, spec: WorkloadSpec, indexes: range, ready: Any, go: Any, out: Any) -> None:
    bodies = [r.body for r in generate_requests(spec, indexes)]
    ready.put(sum(len(b) for b in bodies))
    go.wait()
    retries = 0
    with grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        export = channel.unary_unary(_EXPORT)
        for body in bodies:
            while True:
                try:
                    export(body, timeout=120)
                    break
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    retries += 1
    out.put((time.monotonic(), retries))


def _clients(port: int, spec: WorkloadSpec, clients: int) -> tuple[list[Any], Any, Any, Any]:
    """Started client processes, each with its share of the requests, waiting for ``go``."""
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    per = -(-spec.requests // clients)
    procs = [
        ctx.Process(
            target=_client,
            args=(port, spec, range(i * per, min(spec.requests, (i + 1) * per)), ready, go, out),
        )
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    return procs, ready, out, go


def _drive(port: int, spec: WorkloadSpec, clients: int) -> tuple[float, list[int]]:
    """Send the whole load to ``port``; seconds until the last acknowledgement."""
    procs, ready, out, go = _clients(port, spec, clients)
    for _ in procs:
        ready.get(timeout=600)
    start = time.monotonic()
    go.set()
    finished = [out.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join(60)
    return max(t for t, _ in finished) - start, [p.pid or 0 for p in procs]


def _lake_env(url: str, data: Path, cid: str, interval_s: float) -> dict[str, str]:
    return {
        "AGENT_AUDIT_STORE": f"ducklake:{url}",
        "AGENT_AUDIT_LAKE_DATA_PATH": str(data),
        "AGENT_AUDIT_COLLECTOR_ID": cid,
        "AGENT_AUDIT_LAKE_SHIP_INTERVAL_S": str(interval_s),
    }


def _total_runs(api: str) -> int:
    response = httpx.get(api + "/agent/runs", params={"limit": 1}, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"GET /agent/runs: {response.status_code} {response.text[:300]}")
    return int(response.json()["total"])


_api_errors: list[str] = []


def _total_runs_or_log(api: str, collectors: list[Any]) -> int:
    """The API's run count; an error is recorded (and reported) and counts as 0."""
    try:
        return _total_runs(api)
    except RuntimeError as exc:
        _api_errors.append(str(exc))
        sys.stderr.write(f"{exc}\n")
        for collector in collectors:
            sys.stderr.write("".join(collector.output[-20:]))
        if len(_api_errors) > 20:
            raise
        return 0


def _all_shipped(collectors: list[Any], expected_spans: int) -> bool:
    health = [httpx.get(c.http_url + "/healthz", timeout=60).json() for c in collectors]
    committed = sum(int(h.get("committed_spans", 0)) for h in health)
    unshipped = sum(int(h.get("lake", {}).get("unshipped_spans", 1)) for h in health)
    return committed >= expected_spans and unshipped == 0


def _visibility_probe(
    port: int, api: str, stop: Any, out: list[float], interval_s: float = 1.0
) -> None:
    """Every ``interval_s`` during the load: one run through the router, timed from its
    acknowledgement until the API (of the first collector, whoever stored it) shows it."""
    seed = 10_000
    with (
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
        httpx.Client(base_url=api, timeout=60) as client,
    ):
        export = channel.unary_unary(_EXPORT)
        while not stop.wait(interval_s):
            seed += 1
            spec = WorkloadSpec(runs=1, steps=2, runs_per_request=1, seed=seed)
            (request,) = list(generate_requests(spec))
            export(request.body, timeout=60)
            acked = time.monotonic()
            run_id = request.plan.run_ids[0]
            # Polled gently: a lake query costs the collector CPU the load needs.
            while client.get(f"/agent/runs/{run_id}").status_code != 200:
                if time.monotonic() - acked > 120:
                    break  # not derived as a run (see _all_shipped); no sample
                time.sleep(0.2)  # polling interval
            else:
                out.append(time.monotonic() - acked)


def throughput_once(
    cluster: PostgresCluster,
    n: int,
    spec: WorkloadSpec,
    clients: int,
    interval_s: float,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One N: start everything, drive the load, measure, stop everything."""
    _api_errors.clear()
    extra_env = extra_env or {}
    work = Path(tempfile.mkdtemp(prefix=f"agent-audit-scale{n}-"))
    url = _create_db(cluster, f"scale_{n}_{os.getpid()}")
    data = work / "lake"
    data.mkdir()
    collectors = [
        spawn_collector(
            work / f"c{i}.duckdb",
            env={**_lake_env(url, data, f"c{i}", interval_s), **extra_env},
        )
        for i in range(n)
    ]
    port_line = ""
    router = subprocess.Popen(
        [sys.executable, "-m", "bench.otlp_router", "--listen", "127.0.0.1:0"]
        + [arg for c in collectors for arg in ("--backend", c.grpc_target)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert router.stdout is not None
        port_line = router.stdout.readline()
        port = int(port_line.split("port ")[1].split()[0])
        procs, ready, out, go = _clients(port, spec, clients)
        otlp_bytes = sum(ready.get(timeout=600) for _ in procs)
        client_pids = [p.pid or 0 for p in procs]
        before = sample_cpu(router.pid, collectors, cluster, client_pids)
        visibility: list[float] = []
        probe_stop = threading.Event()
        probe = threading.Thread(
            target=_visibility_probe,
            args=(port, collectors[0].http_url, probe_stop, visibility),
            daemon=True,
        )
        start = time.monotonic()
        go.set()
        probe.start()
        finished = [out.get(timeout=3600) for _ in procs]
        probe_stop.set()
        probe.join(60)
        acked_at = max(t for t, _ in finished) - start
        api = collectors[0].http_url
        # Every acknowledged span is in the lake (where the API reads) once each
        # collector has committed its share and shipped all of it. Asked of
        # /healthz, not by counting runs through the API: a lake query per poll
        # costs the CPU being measured, and on a starved machine the redaction
        # budget can leave a run's spans without the attributes that make it a run.
        expected = spec.runs * spec.spans_per_run + 3 * len(visibility)
        deadline = time.monotonic() + 900
        while not _all_shipped(collectors, expected):
            if time.monotonic() > deadline:
                raise RuntimeError(f"N={n}: spans still unshipped after 900 s")
            time.sleep(0.5)  # polling interval
        visible_at = time.monotonic() - start
        runs_via_api = _total_runs_or_log(api, collectors)
        used = sample_cpu(router.pid, collectors, cluster, client_pids).minus(before)
        lake_health = [
            httpx.get(c.http_url + "/healthz", timeout=60).json().get("lake", {})
            for c in collectors
        ]
        spans = spec.runs * spec.spans_per_run
        commits = max(1.0, used["lake_commits"])
        components = (
            "router",
            "collectors_receive",
            "shippers",
            "api_reads",
            "postgres",
            "load_generator",
        )
        lake_bytes = sum(f.stat().st_size for f in data.rglob("*.parquet"))
        return {
            "collectors": n,
            "spans": spans,
            "acked_spans_per_s": round(spans / acked_at),
            "visible_spans_per_s": round(spans / visible_at),
            "ack_s": round(acked_at, 2),
            "all_visible_s": round(visible_at, 2),
            "retries": sum(r for _, r in finished),
            "api_errors_while_polling": len(_api_errors),
            "runs_via_api": runs_via_api,
            "runs_expected": spec.runs + len(visibility),
            "ack_to_visible_s_p50": round(percentile(visibility, 50), 2),
            "ack_to_visible_s_max": round(max(visibility, default=float("nan")), 2),
            "visibility_samples": len(visibility),
            "ship_failures": sum(h.get("ship_failures", 0) for h in lake_health),
            "last_ship_errors": [h.get("last_ship_error") for h in lake_health],
            "cpu_us_per_span": {c: round(used[c] / spans * 1e6, 1) for c in components},
            "cores_busy": {c: round(used[c] / used["wall_s"], 2) for c in components},
            "lake_commits_per_s": round(used["lake_commits"] / used["wall_s"], 2),
            "lake_commit_ms_mean": round(used["lake_commit_s"] / commits * 1000, 1),
            "postgres_cpu_ms_per_commit": round(used["postgres"] / commits * 1000, 2),
            "parquet_files": sum(1 for _ in data.rglob("*.parquet")),
            "files_per_commit": round(sum(1 for _ in data.rglob("*.parquet")) / commits, 2),
            "otlp_bytes_per_span": round(otlp_bytes / spans),
            "lake_bytes_per_span": round(lake_bytes / spans),
        }
    finally:
        router.terminate()
        router.wait(30)
        for collector in collectors:
            collector.stop()
        shutil.rmtree(work, ignore_errors=True)


def run_throughput(args: argparse.Namespace) -> dict[str, Any]:
    spec = WorkloadSpec(runs=args.runs, steps=args.steps, runs_per_request=args.runs_per_request)
    # Each collector keeps a full-text index of every run in the lake: N
    # collectors index each run N times. Off, to measure what that costs.
    extra_env = {} if args.search_index else {"AGENT_AUDIT_SEARCH_INDEX": "0"}
    cluster = start_postgres(dbname="scale")
    try:
        rows = []
        for n in args.collectors:
            rows.append(
                throughput_once(cluster, n, spec, args.clients, args.ship_interval_s, extra_env)
            )
            sys.stderr.write(json.dumps(rows[-1], default=str) + "\n")
    finally:
        cluster.stop()
    base = rows[0]["acked_spans_per_s"]
    base_visible = rows[0]["visible_spans_per_s"]
    for row in rows:
        row["scaling_acked"] = round(row["acked_spans_per_s"] / base, 2)
        row["scaling_visible"] = round(row["visible_spans_per_s"] / base_visible, 2)
        row["goal_0_8_n"] = round(0.8 * row["collectors"], 1)
    report: dict[str, Any] = {
        "cores": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "runs": args.runs,
        "clients": args.clients,
        "search_index": args.search_index,
        "rows": rows,
    }
    # The router alone, same load, into as many sinks as the largest N.
    report["router_alone"] = router_alone(
        max(args.collectors),
        lambda port: _drive(port, spec, args.clients),
        spec.runs * spec.spans_per_run,
    )
    if args.catalog_writers:
        from bench.lake_probe import run_probe

        report["catalog_probe"] = run_probe(
            args.catalog_writers, args.catalog_commits, 200, 0, "append", compact=False
        )
    report["paper"] = _paper(report, args.ship_interval_s)
    return report


def _paper(report: dict[str, Any], interval_s: float) -> list[dict[str, Any]]:
    """The extrapolation (bench/scale_paper.py) from this run's one-collector row."""
    one = report["rows"][0]
    catalog = report.get("catalog_probe") or {}
    measured = {
        "collector_cpu_us_per_span": one["cpu_us_per_span"]["collectors_receive"]
        + one["cpu_us_per_span"]["shippers"],
        "router_cpu_us_per_span": report["router_alone"]["router_cpu_us_per_span"],
        "postgres_cpu_ms_per_commit": one["postgres_cpu_ms_per_commit"],
        # Without the probe, the highest rate the catalog took in this run (a lower bound).
        "catalog_commits_per_s": catalog.get(
            "commits_per_s", max(r["lake_commits_per_s"] for r in report["rows"])
        ),
        "files_per_commit": one["files_per_commit"],
        "otlp_bytes_per_span": one["otlp_bytes_per_span"],
        "lake_bytes_per_span": one["lake_bytes_per_span"],
    }
    report["paper_inputs"] = measured
    return [
        extrapolate(measured, cores=16, machines=1, ship_interval_s=interval_s),
        extrapolate(measured, cores=16, machines=10, ship_interval_s=interval_s),
        extrapolate(measured, cores=16, machines=10, ship_interval_s=5.0),
    ]


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tp = sub.add_parser("throughput")
    tp.add_argument(
        "--collectors", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 3]
    )
    tp.add_argument("--runs", type=int, default=3000)
    tp.add_argument("--steps", type=int, default=8)
    tp.add_argument("--runs-per-request", type=int, default=50)
    tp.add_argument("--clients", type=int, default=2)
    tp.add_argument("--ship-interval-s", type=float, default=0.5)
    tp.add_argument(
        "--catalog-writers",
        type=int,
        default=3,
        help="writers for the catalog's commits/s probe (bench/lake_probe.py); 0 skips it",
    )
    tp.add_argument("--catalog-commits", type=int, default=40, help="per writer")
    tp.add_argument(
        "--no-search-index",
        dest="search_index",
        action="store_false",
        help="collectors without their full-text index (AGENT_AUDIT_SEARCH_INDEX=0)",
    )
    q = sub.add_parser("query")
    q.add_argument("--runs", type=int, default=100_000)
    q.add_argument(
        "--single",
        type=Path,
        default=None,
        help="an existing single-file store to use (copied) instead of building --runs",
    )
    q.add_argument(
        "--unsorted-too",
        action="store_true",
        help="also time a lake laid out without sort orders (the layout before)",
    )
    q.add_argument(
        "--baseline-repo",
        type=Path,
        default=None,
        help="also time a collector run from this checkout over the same lake",
    )
    q.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    if args.command == "throughput":
        report = run_throughput(args)
    else:
        from bench.scale_query import run_query

        report = run_query(args)
    print(json.dumps(report, indent=2, default=str))
    if args.command == "throughput":
        print(format_paper(report["paper"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
