"""Copy a single-file store's tables into a DuckLake, laid out as collectors ship them.

    PYTHONPATH=$PWD python -m bench.lake_load SINGLE.duckdb 'host=... dbname=...' /data/lake

For query benchmarks over the lake (bench/scale_out.py ``query``): building a
large lake through the collectors' shipping would take hours here, and the
data would be the same. The tables are created by the collectors' own code
(collector/lake/layout.py: one collector schema, the shared ``spans``, sort
orders and row-group size), then filled set-based in slices of ``started_at``
(oldest first, as shipping would), each slice one lake commit. A slice is
100,000 runs by default, about 450 MB of steps: near DuckLake's target file
size (512 MB), so the files are those compaction would leave behind
(collector/lake/maintenance.py merges shipments into files of that size).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from collector.lake.connect import attach_lake, lake_connection
from collector.lake.layout import (
    OWNED_TABLES,
    SHARED_TABLES,
    collector_schema,
    ensure_lake_tables,
    lake_columns,
)

__all__ = ["LoadResult", "load_into_lake"]


@dataclass(frozen=True)
class LoadResult:
    runs: int
    steps: int
    spans: int
    seconds: float
    files: int


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def load_into_lake(
    single: Path,
    catalog_dsn: str,
    data_path: Path,
    *,
    collector_id: str = "bench",
    slices: int | None = None,
    memory_limit_mb: int = 3072,
    unsorted: bool = False,
) -> LoadResult:
    """Copy every table of ``single`` into the lake under ``c_<collector_id>``.

    ``unsorted`` creates the tables plainly instead (no sort order, DuckDB's
    default row groups): the layout before sorting, for comparison.
    """
    began = time.perf_counter()
    local = duckdb.connect(str(single), read_only=True)
    try:
        columns = {t: lake_columns(local, t) for t in (*SHARED_TABLES, *OWNED_TABLES)}
        bounds = local.execute(
            "SELECT min(started_at), max(started_at), count(*) FROM agent_runs"
        ).fetchone()
    finally:
        local.close()
    schema = collector_schema(collector_id)
    con = lake_connection(memory_limit_mb)
    # Sorting a slice may spill: beside the lake, not in the working directory.
    con.execute("SET temp_directory = ?", [str(data_path.parent / f"{data_path.name}.spill")])
    try:
        attach_lake(con, catalog_dsn, data_path)
        con.execute("CALL lake.set_option('data_inlining_row_limit', 0)")
        if unsorted:
            con.execute(f"CREATE SCHEMA lake.{schema}")
            for table, cols in columns.items():
                where = "main" if table in SHARED_TABLES else schema
                body = ", ".join(f'"{c}" {kind}' for c, kind in cols)
                con.execute(f"CREATE TABLE lake.{where}.{table} ({body})")
        else:
            ensure_lake_tables(con, "lake", schema, columns)
        con.execute(f"ATTACH {_quote(str(single))} AS single (READ_ONLY)")
        names = {t: ", ".join(f'"{c}"' for c, _ in cols) for t, cols in columns.items()}
        first, last, runs = bounds if bounds else (None, None, 0)
        if slices is None:
            slices = max(1, int(runs) // 100_000)
        edges: list[object] = []
        if first is not None and last is not None:
            step = (last - first) / slices
            edges = [first + step * i for i in range(1, slices)]
        lows: list[object] = [None, *edges]
        highs: list[object] = [*edges, None]
        for low, high in zip(lows, highs, strict=True):
            # Runs without a start time go with the first slice.
            where = "(? IS NULL OR started_at >= ?) AND (? IS NULL OR started_at < ?)" + (
                " OR started_at IS NULL" if low is None else ""
            )
            params = [low, low, high, high]
            con.execute("BEGIN")
            for table in ("agent_runs", "agent_steps"):
                con.execute(
                    f"INSERT INTO lake.{schema}.{table} ({names[table]}) "
                    f"SELECT {names[table]} FROM single.main.{table} WHERE {where}",
                    params,
                )
            con.execute("COMMIT")
        for table in OWNED_TABLES:
            if table not in ("agent_runs", "agent_steps"):
                con.execute(
                    f"INSERT INTO lake.{schema}.{table} ({names[table]}) "
                    f"SELECT {names[table]} FROM single.main.{table}"
                )
        con.execute(
            f"INSERT INTO lake.main.spans ({names['spans']}) "
            f"SELECT {names['spans']} FROM single.main.spans"
        )
        counts = con.execute(
            f"SELECT (SELECT count(*) FROM lake.{schema}.agent_runs), "
            f"(SELECT count(*) FROM lake.{schema}.agent_steps), "
            "(SELECT count(*) FROM lake.main.spans)"
        ).fetchone()
    finally:
        con.close()
    assert counts is not None
    files = sum(1 for _ in data_path.rglob("*.parquet"))
    return LoadResult(
        runs=int(counts[0]),
        steps=int(counts[1]),
        spans=int(counts[2]),
        seconds=time.perf_counter() - began,
        files=files,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("single", type=Path)
    parser.add_argument("catalog_dsn")
    parser.add_argument("data_path", type=Path)
    parser.add_argument("--slices", type=int, default=None, help="default: one per 100,000 runs")
    parser.add_argument("--unsorted", action="store_true", help="the layout before sorting")
    args = parser.parse_args()
    args.data_path.mkdir(parents=True, exist_ok=True)
    print(
        load_into_lake(
            args.single,
            args.catalog_dsn,
            args.data_path,
            slices=args.slices,
            unsorted=args.unsorted,
        )
    )


if __name__ == "__main__":
    main()
