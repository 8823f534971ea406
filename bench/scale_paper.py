"""Extrapolate measured scale-out figures, on paper, to hardware this machine is not.

Inputs are only figures the benchmark measured (bench/scale_out.py):

- collector CPU per span (receive + local commit, and the shipping thread),
  from the one-collector run, where the fewest processes share the cores;
- router CPU per span, from the router alone in front of sinks (the Python
  stand-in; otelcol's Go exporter would cost less, so this is an upper bound);
- PostgreSQL CPU per lake commit, and lake commits per second the catalog
  took with several writers committing back to back (bench/lake_probe.py);
- files written per lake commit, OTLP bytes and lake bytes per span.

The model: a collector uses at most about one core (one writer thread, one
GIL), so a machine of K cores runs K - (router + PostgreSQL cores) collectors;
throughput is what their CPU allows. Each collector commits to the catalog once
per shipping pass, so N collectors shipping every I seconds need N / I commits/s;
past the catalog's capacity C the passes queue (bigger batches, later
visibility): the shortest interval that keeps up is N / C. Files: every commit
writes its files until compaction merges them. Network: each span crosses the
network twice as OTLP (agent to router, router to collector) and once as
Parquet to the shared storage.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["extrapolate", "format_paper"]


def extrapolate(
    measured: dict[str, Any],
    *,
    cores: int,
    machines: int,
    ship_interval_s: float,
    catalog_cores: int = 4,
) -> dict[str, Any]:
    """One row of the paper table (see the module docstring for the model)."""
    collector_us = measured["collector_cpu_us_per_span"]
    router_us = measured["router_cpu_us_per_span"]
    pg_ms_per_commit = measured["postgres_cpu_ms_per_commit"]
    capacity = measured["catalog_commits_per_s"]
    per_collector = 1e6 / collector_us  # spans/s on one core
    # Cores per machine left for collectors after the router; the catalog runs
    # on its own machine when there are several, else shares this one.
    router_share = router_us / (collector_us + router_us)
    shared_catalog = catalog_cores if machines == 1 else 0
    collector_cores = max(1, math.floor((cores - shared_catalog) * (1 - router_share)))
    collectors = collector_cores * machines
    spans_per_s = collectors * per_collector
    commits_needed = collectors / ship_interval_s
    catalog_cpu = commits_needed * pg_ms_per_commit / 1000
    shortest_interval = collectors / capacity
    # What the catalog's CPU alone would allow on its own cores: the measured
    # capacity above is bound by commit latency on this loaded machine.
    capacity_by_cpu = catalog_cores * 1000 / pg_ms_per_commit
    files_per_s = commits_needed * measured["files_per_commit"]
    network = spans_per_s * (2 * measured["otlp_bytes_per_span"] + measured["lake_bytes_per_span"])
    limits = {
        "CPU (collectors)": spans_per_s,
    }
    if commits_needed > capacity:
        bottleneck = (
            f"catalog commits/s: {commits_needed:.0f} needed at {ship_interval_s:g} s, "
            f"{capacity:.0f} measured; ship every {shortest_interval:.1f} s or more"
        )
    else:
        bottleneck = "CPU of the collectors"
    return {
        "machines": machines,
        "cores_each": cores,
        "collectors": collectors,
        "spans_per_s": round(min(limits.values())),
        "catalog_commits_per_s_needed": round(commits_needed, 1),
        "catalog_commits_per_s_measured": round(capacity, 1),
        "catalog_cpu_cores": round(catalog_cpu, 2),
        "catalog_commits_per_s_cpu_bound": round(capacity_by_cpu),
        "shortest_ship_interval_s": round(shortest_interval, 2),
        "files_per_hour_before_compaction": round(files_per_s * 3600),
        "network_mb_per_s": round(network / 1e6, 1),
        "bottleneck": bottleneck,
    }


def format_paper(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    header = (
        "| machines × cores | collectors | spans/s (CPU) | catalog commits/s needed "
        "(measured here; CPU bound of 4 catalog cores) | shortest ship interval "
        "| files/h before compaction | network MB/s | bottleneck |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for r in rows:
        lines.append(
            f"| {r['machines']} × {r['cores_each']} | {r['collectors']} | {r['spans_per_s']:,} "
            f"| {r['catalog_commits_per_s_needed']} ({r['catalog_commits_per_s_measured']}; "
            f"{r['catalog_commits_per_s_cpu_bound']}) "
            f"| {r['shortest_ship_interval_s']} s | {r['files_per_hour_before_compaction']:,} "
            f"| {r['network_mb_per_s']} | {r['bottleneck']} |"
        )
    return "\n".join(lines)
