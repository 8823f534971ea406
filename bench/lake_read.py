"""The lake's read path in one process: sorted layout against unsorted, no HTTP.

    PYTHONPATH=$PWD python -m bench.lake_read /path/single.duckdb --repeat 7

Loads the same single-file store into two lakes (bench/lake_load.py: the
collectors' layout, and the plain one from before sorting) and times the API's
own query functions (collector/queries.py) through the lake reader
(collector/lake/reader.py), alternating between the two lakes and the single
file, so that the load of a shared machine falls on all three alike. Without
the HTTP server and JSON, the figures show what the storage costs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from bench.lake_load import load_into_lake
from bench.pg_cluster import PG_BIN, start_postgres
from collector import queries
from collector.lake.reader import LakeReader


def _cases(run_id: str) -> dict[str, Callable[[duckdb.DuckDBPyConnection], Any]]:
    return {
        "run page (get_run, longest run)": lambda c: queries.get_run(c, run_id),
        "its steps alone": lambda c: queries._steps_of(c, run_id, 0),
        "run list, first page": lambda c: queries.list_runs(c, queries.RunFilters()),
        "run list, status=failed": lambda c: queries.list_runs(
            c, queries.RunFilters(statuses=("failed",))
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("single", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="agent-audit-lakeread-"))
    cluster = start_postgres(dbname="sorted")
    try:
        subprocess.run(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"]
            + ["-d", "sorted", "-c", "CREATE DATABASE unsorted"],
            check=True,
            capture_output=True,
        )
        readers: dict[str, Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any]] = {}
        report: dict[str, Any] = {}
        for name, unsorted in (("lake_sorted", False), ("lake_unsorted", True)):
            data = work / name
            data.mkdir()
            dsn = cluster.dsn.replace("dbname=sorted", f"dbname={name.split('_')[1]}")
            report[f"load_{name}_s"] = round(
                load_into_lake(args.single, dsn, data, unsorted=unsorted).seconds, 1
            )
            readers[name] = LakeReader(dsn, data, spill_dir=work / f"{name}.spill").read
        single = duckdb.connect(str(args.single), read_only=True)
        readers["single_file"] = lambda fn: fn(single.cursor())
        row = single.execute(
            "SELECT agent_run_id FROM agent_steps GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        assert row is not None
        timings: dict[str, dict[str, list[float]]] = {}
        for case, fn in _cases(str(row[0])).items():
            timings[case] = {side: [] for side in readers}
            for read in readers.values():
                read(fn)  # warm-up
            for _ in range(args.repeat):
                for side, read in readers.items():
                    began = time.perf_counter()
                    read(fn)
                    timings[case][side].append((time.perf_counter() - began) * 1000)
        report["p50_ms"] = {
            case: {side: round(statistics.median(t), 1) for side, t in sides.items()}
            for case, sides in timings.items()
        }
        print(json.dumps(report, indent=2))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
