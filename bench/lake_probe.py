"""What DuckLake on PostgreSQL gives on this machine: commit latency, concurrent
writers, data inlining, file counts and compaction.

    PYTHONPATH=$PWD python -m bench.lake_probe --writers 3 --commits 200

Starts a throwaway PostgreSQL cluster (bench/pg_cluster.py), a data directory in
/tmp, and N writer processes that each commit small batches into the same lake
tables: appends (like ``spans``) and replace-by-key upserts (like ``agent_runs``).
Prints per-commit latency, conflicts and retries, the Parquet file count, and
what compaction does to it.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.pg_cluster import start_postgres
from collector.lake.connect import attach_lake, lake_connection


def _writer(
    dsn: str, data_path: str, writer_id: int, commits: int, rows: int, mode: str, out: Any
) -> None:
    con = lake_connection()
    attach_lake(con, dsn, Path(data_path))
    messages: dict[str, int] = {}
    latencies: list[float] = []
    conflicts = 0
    # Wall-clock bounds of this writer's commits: the rate is taken over the
    # span all writers were committing, not over process start-up.
    first_start = time.time()
    for i in range(commits):
        ids = [f"w{writer_id}-{i}-{j}" for j in range(rows)]
        while True:
            start = time.perf_counter()
            try:
                con.execute("BEGIN")
                con.execute(
                    "INSERT INTO lake.spans SELECT unnest(?) AS span_id, ? AS writer, "
                    "repeat('x', 400) AS body",
                    [ids, writer_id],
                )
                if mode in ("upsert", "upsert-own"):
                    table = f"runs_{writer_id}" if mode == "upsert-own" else "runs"
                    # Replace-by-key, as a shipper would for runs that changed.
                    keys = [f"w{writer_id}-run-{(i * rows + j) % 500}" for j in range(rows)]
                    con.execute(f"DELETE FROM lake.{table} WHERE id IN (SELECT unnest(?))", [keys])
                    con.execute(
                        f"INSERT INTO lake.{table} SELECT unnest(?) AS id, 'running' AS status, ?",
                        [keys, i],
                    )
                con.execute("COMMIT")
                latencies.append(time.perf_counter() - start)
                break
            except duckdb.Error as exc:
                conflicts += 1
                key = " | ".join(str(exc).splitlines())[:400]
                messages[key] = messages.get(key, 0) + 1
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if conflicts > commits * 20:
                    raise RuntimeError(f"writer {writer_id}: giving up: {exc}") from None
    out.put((writer_id, latencies, conflicts, messages, first_start, time.time()))


def _count_files(data_path: Path) -> int:
    return sum(1 for p in data_path.rglob("*.parquet"))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_probe(
    writers: int, commits: int, rows: int, inline_limit: int, mode: str, *, compact: bool = True
) -> dict[str, float]:
    """Run the probe, print what it found, return the commit figures."""
    cluster = start_postgres()
    data_path = Path(tempfile.mkdtemp(prefix="agent-audit-lake-"))
    try:
        con = lake_connection()
        attach_lake(con, cluster.dsn, data_path)
        con.execute(f"CALL lake.set_option('data_inlining_row_limit', {int(inline_limit)})")
        con.execute("CREATE TABLE lake.spans (span_id VARCHAR, writer INTEGER, body VARCHAR)")
        for table in ["runs", *(f"runs_{w}" for w in range(writers))]:
            con.execute(f"CREATE TABLE lake.{table} (id VARCHAR, status VARCHAR, version INTEGER)")
        ctx = mp.get_context("spawn")
        out: Any = ctx.Queue()
        procs = [
            ctx.Process(
                target=_writer,
                args=(cluster.dsn, str(data_path), w, commits, rows, mode, out),
            )
            for w in range(writers)
        ]
        for p in procs:
            p.start()
        results = [out.get(timeout=1800) for _ in procs]
        for p in procs:
            p.join()
        # From the first commit of any writer to the last commit of any.
        wall = max(r[5] for r in results) - min(r[4] for r in results)
        lat = [x for _, ls, *_ in results for x in ls]
        conflicts = sum(r[2] for r in results)
        kinds: dict[str, int] = {}
        for _, _, _, msgs, *_ in results:
            for k, v in msgs.items():
                kinds[k] = kinds.get(k, 0) + v
        total = writers * commits
        spans = con.execute("SELECT count(*) FROM lake.spans").fetchone()
        print(
            f"writers={writers} commits={total} rows/commit={rows} mode={mode} "
            f"inline_limit={inline_limit}"
        )
        print(
            f"  commit latency ms: median {statistics.median(lat) * 1e3:.1f} "
            f"p95 {_pct(lat, 0.95) * 1e3:.1f} max {max(lat) * 1e3:.1f}"
        )
        print(
            f"  commits/s all writers {total / wall:.0f}; rows/s {total * rows / wall:.0f}; "
            f"conflicts (rolled back and retried) {conflicts}"
        )
        for k, v in kinds.items():
            print(f"    {v} x {k}")
        print(f"  spans rows {spans[0] if spans else 0} (expected {total * rows})")
        files = _count_files(data_path)
        print(f"  parquet files after the commits: {files}")
        figures = {
            "writers": float(writers),
            "commits_per_s": total / wall,
            "commit_ms_p50": statistics.median(lat) * 1e3,
            "commit_ms_p95": _pct(lat, 0.95) * 1e3,
            "conflicts": float(conflicts),
            "files_per_commit": files / total,
        }
        if not compact:
            return figures
        t0 = time.perf_counter()
        con.execute("CALL ducklake_flush_inlined_data('lake')")
        t1 = time.perf_counter()
        print(f"  after flushing inlined rows: {_count_files(data_path)} ({(t1 - t0):.2f}s)")
        con.execute("CALL ducklake_merge_adjacent_files('lake')")
        t2 = time.perf_counter()
        con.execute("CALL ducklake_expire_snapshots('lake', older_than => now())")
        con.execute("CALL ducklake_cleanup_old_files('lake', cleanup_all => true)")
        t3 = time.perf_counter()
        print(
            f"  after merge_adjacent_files ({t2 - t1:.2f}s) + expire + cleanup ({t3 - t2:.2f}s): "
            f"{_count_files(data_path)} files"
        )
        t4 = time.perf_counter()
        n = con.execute("SELECT count(*), count(DISTINCT span_id) FROM lake.spans").fetchone()
        print(f"  count over the lake {n} in {(time.perf_counter() - t4) * 1e3:.0f} ms")
        return figures
    finally:
        cluster.stop()
        shutil.rmtree(data_path, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--inline", type=int, default=0, help="DATA_INLINING_ROW_LIMIT")
    parser.add_argument("--mode", choices=["append", "upsert", "upsert-own"], default="upsert")
    args = parser.parse_args()
    run_probe(args.writers, args.commits, args.rows, args.inline, args.mode)


if __name__ == "__main__":
    main()
