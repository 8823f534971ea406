"""Query latency over the lake against the single file, the same runs in both.

    PYTHONPATH=$PWD python -m bench.scale_out query --runs 100000
    PYTHONPATH=$PWD python -m bench.scale_out query --single /path/1m.duckdb
    PYTHONPATH=$PWD python -m bench.scale_out query --single 1m.duckdb --baseline-repo ../main

The single file is built set-based (bench/dataset.py ``build_via_sql``) or
copied from ``--single`` (the original is not opened for writing), then loaded
into a lake with the collectors' layout (bench/lake_load.py). One collector
serves each; every API call of bench/query.py is timed on both, alternating
between them request by request, so that a change of load on this shared
machine hits both sides alike. ``--baseline-repo`` adds a third: a collector
run from another checkout over the same lake (``lake_baseline``), to compare
code, not storage.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.collector_proc import percentile, spawn_collector
from bench.lake_load import load_into_lake
from bench.pg_cluster import start_postgres

__all__ = ["run_query"]


def _time_both(
    apis: dict[str, str], cases: list[tuple[str, str, dict[str, Any]]], repeat: int
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    clients = {side: httpx.Client(base_url=url, timeout=300) for side, url in apis.items()}
    try:
        for name, path, params in cases:
            timings: dict[str, list[float]] = {side: [] for side in apis}
            errors: dict[str, list[str]] = {side: [] for side in apis}
            for side, client in clients.items():
                first = client.get(path, params=params)  # warm-up, and the answer checked
                if first.status_code != 200:
                    errors[side].append(f"HTTP {first.status_code}: {first.text[:120]}")
            for _ in range(repeat):
                for side, client in clients.items():
                    if errors[side]:
                        continue  # this side cannot answer the case; time the others
                    began = time.perf_counter()
                    response = client.get(path, params=params)
                    if response.status_code != 200:
                        errors[side].append(f"HTTP {response.status_code}: {response.text[:120]}")
                        continue
                    timings[side].append((time.perf_counter() - began) * 1000)
            row: dict[str, Any] = {
                side: {
                    "p50_ms": round(percentile(t, 50), 1),
                    "p95_ms": round(percentile(t, 95), 1),
                }
                for side, t in timings.items()
                if t
            }
            row["errors"] = {side: e for side, e in errors.items() if e}
            for side in apis:
                if side != "single_file" and side in row and "single_file" in row:
                    row[f"{side}_over_file_p50"] = round(
                        row[side]["p50_ms"] / max(0.1, row["single_file"]["p50_ms"]), 2
                    )
            results[name] = row
    finally:
        for client in clients.values():
            client.close()
    return results


def run_query(args: argparse.Namespace) -> dict[str, Any]:
    from bench.dataset import build_via_sql
    from bench.query import _cases, _layout
    from bench.scale_out import _create_db, _lake_env

    work = Path(tempfile.mkdtemp(prefix="agent-audit-lakeq-"))
    cluster = start_postgres(dbname="query")
    try:
        single = work / "single.duckdb"
        if args.single is not None:
            shutil.copyfile(args.single, single)
            key = args.single.with_name(args.single.name + ".key")
            if key.exists():  # a chained file opens only with its chain key beside it
                copied = single.with_name(single.name + ".key")
                shutil.copyfile(key, copied)
                copied.chmod(0o600)  # the collector refuses a key others can read
        else:
            build_via_sql(single, runs=args.runs, progress=False)
        cases = _cases(_layout(single))
        data = work / "lake"
        data.mkdir()
        loaded = load_into_lake(single, cluster.dsn, data)
        report: dict[str, Any] = {
            "runs": loaded.runs,
            "steps": loaded.steps,
            "load_into_lake_s": round(loaded.seconds, 1),
            "lake_parquet_files": loaded.files,
        }
        unsorted_url = None
        if args.unsorted_too:
            # The same runs in a second lake laid out as before sorting.
            unsorted_url = _create_db(cluster, "unsorted")
            old = work / "lake-unsorted"
            old.mkdir()
            dsn = f"host=127.0.0.1 port={cluster.port} dbname=unsorted user=postgres"
            report["load_unsorted_s"] = round(
                load_into_lake(single, dsn, old, unsorted=True).seconds, 1
            )
        # No full-text index on either side: each would index every run in the
        # background while being timed; ``q`` then scans text on both sides.
        no_index = {"AGENT_AUDIT_SEARCH_INDEX": "0"}
        plain = spawn_collector(single, env=no_index)
        lake_collector = spawn_collector(
            work / "local.duckdb", env={**_lake_env(cluster.url, data, "q", 0.5), **no_index}
        )
        apis = {"single_file": plain.http_url, "lake": lake_collector.http_url}
        others = [plain, lake_collector]
        if args.baseline_repo is not None:
            # Another tree's collector (e.g. a checkout of main) over the same lake,
            # with its own collector id: the same data, read by other code.
            baseline = spawn_collector(
                work / "local-baseline.duckdb",
                repo=args.baseline_repo,
                env={**_lake_env(cluster.url, data, "base", 0.5), **no_index},
            )
            others.append(baseline)
            apis["lake_baseline"] = baseline.http_url
        if unsorted_url is not None:
            unsorted = spawn_collector(
                work / "local-unsorted.duckdb",
                env={**_lake_env(unsorted_url, work / "lake-unsorted", "u", 0.5), **no_index},
            )
            others.append(unsorted)
            apis["lake_unsorted"] = unsorted.http_url
        try:
            report["cases"] = _time_both(apis, cases, args.repeat)
        finally:
            for collector in others:
                collector.stop()
        return report
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
