"""Run every benchmark behind the issue-17 table into one directory of JSON files.

    python -m bench.report run --out /tmp/bench-run [--baseline-repo /tmp/base]
        [--query-db /tmp/bench-query/1m.duckdb] [--phoenix] [--quick]

Each figure comes from its own command (printed as it starts, so any row can be
re-run alone); with ``--baseline-repo`` the ingest, burst and query figures are
measured for that tree too, in the same run, alternating with this one, so the
ratios compare like with like on a shared machine. Files written (``.base``
for the baseline): grpc50, grpc1, burst, overhead, query, phoenix (``.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.collector_proc import REPO

__all__ = ["SuiteOptions", "add_suite_arguments", "run_suite"]


@dataclass(frozen=True, kw_only=True)
class SuiteOptions:
    """What to run and at what size."""

    out: Path
    baseline_repo: Path | None = None
    query_db: Path | None = None
    phoenix: bool = False
    quick: bool = False


def add_suite_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` sub-command's options."""
    parser.add_argument("--out", type=Path, required=True, help="directory for the JSON files")
    parser.add_argument("--baseline-repo", type=Path, help="an older tree, measured alongside")
    parser.add_argument("--query-db", type=Path, help="a database built by bench.query build")
    parser.add_argument("--phoenix", action="store_true", help="also run Phoenix side by side")
    parser.add_argument("--quick", action="store_true", help="smaller loads (a smoke run)")


def _run(argv: list[str], log: Path) -> None:
    print(f"$ python {' '.join(argv)}", flush=True)
    began = time.monotonic()
    with log.open("a") as handle:
        done = subprocess.run(
            [sys.executable, *argv],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    print(f"  exit {done.returncode} in {time.monotonic() - began:.0f} s", flush=True)


def run_suite(options: SuiteOptions) -> None:
    """Run the benchmarks; each writes its JSON into ``options.out``."""
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    log = out / "suite.log"
    runs50, runs1, burst, rounds = (
        (4000, 1000, 1000, 3) if options.quick else (20000, 4000, 5000, 9)
    )
    trees: list[tuple[str, Path]] = [("", REPO)]
    if options.baseline_repo:
        trees.insert(0, (".base", options.baseline_repo))
    meta = {
        "cores": os.cpu_count(),
        "loadavg_before": os.getloadavg()[0],
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "baseline_repo": str(options.baseline_repo) if options.baseline_repo else None,
    }
    for suffix, repo in trees:
        load = ["-m", "bench.load", "--spawn", "--repo", str(repo), "--clients", "4"]
        _run([*load, "--runs", str(runs50), "--json", str(out / f"grpc50{suffix}.json")], log)
        _run(
            [
                *load,
                "--runs",
                str(runs1),
                "--runs-per-request",
                "1",
                "--json",
                str(out / f"grpc1{suffix}.json"),
            ],
            log,
        )
    burst_argv = ["-m", "bench.burst", "--runs", str(burst), "--json", str(out / "burst.json")]
    if options.baseline_repo:
        burst_argv += ["--baseline-repo", str(options.baseline_repo)]
    _run(burst_argv, log)
    _run(
        ["bench/overhead.py", "--rounds", str(rounds), "--json", str(out / "overhead.json")],
        log,
    )
    if options.query_db:
        for suffix, repo in trees:
            _run(
                [
                    "-m",
                    "bench.query",
                    "time",
                    "--db",
                    str(options.query_db),
                    "--repeat",
                    "9",
                    "--repo",
                    str(repo),
                    "--json",
                    str(out / f"query{suffix}.json"),
                ],
                log,
            )
    if options.phoenix:
        _run(
            [
                "-m",
                "bench.phoenix",
                "--runs",
                "2000",
                "--protocol",
                "http",
                "--clients",
                "4",
                "--json",
                str(out / "phoenix.json"),
            ],
            log,
        )
    meta["loadavg_after"] = os.getloadavg()[0]
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
