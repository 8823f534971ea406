"""Text search over runs and their steps' inputs and outputs: three ways, measured on one file.

    python -m bench.text_search --db /tmp/bench-query/125k.duckdb [--terms refused bytes=123456]

Works on a copy-free read-only connection to a database built by ``bench.query
build``. For each way it reports the time to build the index (where there is
one), its size, and for each term the p50 of ``count`` plus the newest 50 runs:

- ``scan``: ILIKE over task, final answer and every step's tool arguments,
  result and error (what ``q`` would cost on step text with no index);
- ``fts``: DuckDB's fts extension (BM25; a static index, rebuilt to see new rows);
- ``tantivy``: one document per run (task, final answer, steps' text), the run's
  start as a fast field; an index that takes new documents while it is read.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["main"]

_RUN_TEXT = """
    SELECT r.id, CAST(epoch_us(r.started_at) AS BIGINT) AS started_us,
           concat_ws(' ', r.task, r.final_answer, s.text) AS text
    FROM agent_runs r LEFT JOIN (
        SELECT agent_run_id,
               string_agg(concat_ws(' ', tool_args, tool_result, error), ' ') AS text
        FROM agent_steps GROUP BY agent_run_id
    ) s ON s.agent_run_id = r.id
"""


def _p50_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()
    timings, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        timings.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(timings), 1), result


def measure_scan(con: duckdb.DuckDBPyConnection, term: str, repeat: int) -> dict[str, Any]:
    like = f"%{term}%"
    sql = """
        WITH hits AS (
            SELECT r.id, r.started_at FROM agent_runs r
            WHERE r.task ILIKE $1 OR r.final_answer ILIKE $1 OR r.id IN (
                SELECT agent_run_id FROM agent_steps
                WHERE tool_result ILIKE $1 OR tool_args ILIKE $1 OR error ILIKE $1))
        SELECT (SELECT count(*) FROM hits),
               (SELECT list(id) FROM (SELECT id FROM hits ORDER BY started_at DESC LIMIT 50))
    """
    ms, row = _p50_ms(lambda: con.execute(sql, [like]).fetchone(), repeat)
    return {"p50_ms": ms, "count": row[0] if row else None}


def measure_fts(db: Path, terms: Sequence[str], repeat: int) -> dict[str, Any]:
    from duckdb_extensions import import_extension

    import_extension("fts")
    # The index is tables of its own: build it in memory over the file attached read-only.
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("LOAD fts")
    con.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
    began = time.perf_counter()
    source = _RUN_TEXT.replace("FROM agent_runs", "FROM src.agent_runs").replace(
        "FROM agent_steps", "FROM src.agent_steps"
    )
    con.execute(f"CREATE TABLE run_text AS {source}")
    con.execute("PRAGMA create_fts_index('run_text', 'id', 'text', stemmer='none')")
    built_s = time.perf_counter() - began
    results: dict[str, Any] = {"build_s": round(built_s, 1)}
    for term in terms:
        sql = """
            WITH hits AS (
                SELECT id, started_us FROM (
                    SELECT id, started_us, fts_main_run_text.match_bm25(id, $1) AS score
                    FROM run_text) WHERE score IS NOT NULL)
            SELECT (SELECT count(*) FROM hits),
                   (SELECT list(id) FROM (SELECT id FROM hits ORDER BY started_us DESC LIMIT 50))
        """
        ms, row = _p50_ms(lambda sql=sql, term=term: con.execute(sql, [term]).fetchone(), repeat)
        results[term] = {"p50_ms": ms, "count": row[0] if row else None}
    return results


def measure_tantivy(
    con: duckdb.DuckDBPyConnection, terms: Sequence[str], repeat: int, workdir: Path
) -> dict[str, Any]:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_integer_field("started_us", fast=True, indexed=True)
    builder.add_text_field("text", index_option="basic")
    schema = builder.build()
    path = workdir / "tantivy"
    path.mkdir()
    index = tantivy.Index(schema, path=str(path))
    writer = index.writer(heap_size=64_000_000, num_threads=1)
    began = time.perf_counter()
    cursor = con.execute(_RUN_TEXT)
    while batch := cursor.fetchmany(2000):
        for run_id, started_us, text in batch:
            writer.add_document(
                tantivy.Document(id=run_id, started_us=int(started_us or 0), text=text or "")
            )
    writer.commit()
    built_s = time.perf_counter() - began
    index.reload()
    searcher = index.searcher()
    size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    results: dict[str, Any] = {"build_s": round(built_s, 1), "index_mb": round(size / 2**20, 1)}
    for term in terms:
        # Every word of the term, in any order (tantivy's default tokenizer: lowercased words).
        words = re.findall(r"[^\W_]+", term.lower())
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, tantivy.Query.term_query(schema, "text", w)) for w in words]
        )

        def search(query: Any = query) -> tuple[int, list[str]]:
            found = searcher.search(query, 50, count=True, order_by_field="started_us")
            ids = [searcher.doc(address)["id"][0] for _, address in found.hits]
            return found.count or 0, ids

        ms, (count, _) = _p50_ms(search, repeat)
        results[term] = {"p50_ms": ms, "count": count}
    # Freshness: how long one more run takes to become searchable (add, commit, reload).
    began = time.perf_counter()
    for index_no in range(50):
        writer.add_document(
            tantivy.Document(id=f"fresh-{index_no}", started_us=0, text="freshly added refused")
        )
    writer.commit()
    index.reload()
    results["commit_50_runs_ms"] = round((time.perf_counter() - began) * 1000, 1)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--terms", nargs="+", default=["refused", "bytes=123456"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ways", nargs="+", default=["scan", "tantivy", "fts"])
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-text-"))
    report: dict[str, Any] = {}
    try:
        con = duckdb.connect(str(args.db), read_only=True)
        con.execute("SET enable_progress_bar = false")
        runs = con.execute("SELECT count(*) FROM agent_runs").fetchone()
        report["runs"] = runs[0] if runs else 0
        if "scan" in args.ways:
            report["scan"] = {t: measure_scan(con, t, args.repeat) for t in args.terms}
        if "tantivy" in args.ways:
            report["tantivy"] = measure_tantivy(con, args.terms, args.repeat, workdir)
        if "fts" in args.ways:
            report["fts"] = measure_fts(args.db, args.terms, args.repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
