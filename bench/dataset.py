"""Big databases for the query benchmark, built two ways.

``build_via_store``: the real path. Agent-shaped OTLP requests from
bench.workload are decoded by ``collector.decode`` and written with
``RunStore.write_spans`` in big batches (the store's own group commit), so
spans, runs, steps and the hash chain are exactly what the collector stores.

``build_via_sql``: the same shape of ``agent_runs`` and ``agent_steps`` rows
synthesised by DuckDB ``INSERT .. SELECT`` over ``range()``, into a file whose
schema comes from ``collector.schema.migrate``. It is for the 1M-run size only,
where the store path would take hours on this machine; it writes no ``spans``
or chain rows (the query API reads neither). Text columns take slices of the
same log-like corpus the generator uses.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from bench.workload import WorkloadSpec, corpus, generate_requests
from collector.decode import decode_protobuf
from collector.schema import migrate
from collector.store import RunStore

__all__ = [
    "SQL_BASE_TIME",
    "SQL_SPACING",
    "BuildResult",
    "build_via_store",
    "build_via_sql",
    "long_run_indexes",
    "sql_run_id",
]

SQL_BASE_TIME = datetime(2026, 8, 1)
SQL_SPACING = timedelta(seconds=2.592)  # 1M runs over 30 days
_TOOLS = ("docker_ps", "docker_logs", "docker_inspect", "docker_stats", "disk_usage")
_MODELS = ("qwen2.5-coder:7b", "llama3.1:8b", "mistral-small:24b")


@dataclass(frozen=True)
class BuildResult:
    """How long a build took and what it wrote."""

    runs: int
    steps: int
    spans: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return (self.runs + self.steps) / self.seconds if self.seconds else 0.0


def build_via_store(
    db_path: Path, *, runs: int, steps: int = 8, runs_per_batch: int = 2000, seed: int = 1
) -> BuildResult:
    """Decode generated requests and write them through RunStore.write_spans."""
    spec = WorkloadSpec(runs=runs, steps=steps, runs_per_request=runs_per_batch, seed=seed)
    store = RunStore(db_path, commit_max_spans=10**9, max_queued_spans=10**9)
    write_s = 0.0
    spans = 0
    try:
        for request in generate_requests(spec):
            decoded = decode_protobuf(request.body)
            began = time.monotonic()
            store.write_spans(decoded.spans)
            write_s += time.monotonic() - began
            spans += len(decoded.spans)
    finally:
        store.close()
    return BuildResult(runs=runs, steps=runs * steps, spans=spans, seconds=write_s)


def long_run_indexes(runs: int, count: int = 10) -> list[int]:
    """The runs that get 100 steps (spread through the table)."""
    return [(j * 2 + 1) * runs // (count * 2) for j in range(count)]


def sql_run_id(index: int) -> str:
    """The run id ``build_via_sql`` gives run ``index`` (an md5 laid out as a uuid)."""
    import hashlib

    h = hashlib.md5(f"run-{index}".encode()).hexdigest()  # noqa: S324 - an id, not security
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


_RUN_ID_SQL = (
    "(substr(md5('run-' || i), 1, 8) || '-' || substr(md5('run-' || i), 9, 4) || '-' || "
    "substr(md5('run-' || i), 13, 4) || '-' || substr(md5('run-' || i), 17, 4) || '-' || "
    "substr(md5('run-' || i), 21, 12))"
)


def _insert_runs(con: duckdb.DuckDBPyConnection, first: int, last: int, steps: int) -> None:
    base = SQL_BASE_TIME.isoformat()
    spacing_us = int(SQL_SPACING / timedelta(microseconds=1))
    con.execute(
        f"""
        INSERT INTO agent_runs BY NAME
        SELECT
            {_RUN_ID_SQL} AS id,
            'Investigate ' || substr(c.text, 1 + CAST(hash(i, 1) % 200000 AS BIGINT),
                                     40 + CAST(hash(i, 2) % 80 AS BIGINT)) AS task,
            '/srv' AS working_directory,
            m.model AS model_requested, m.model AS model_used,
            ['3090', 'a100', 'cpu'][1 + CAST(hash(i, 3) % 3 AS INTEGER)] AS backend,
            CASE WHEN hash(i, 4) % 100 < 5 THEN 'failed'
                 WHEN hash(i, 4) % 100 < 8 THEN 'max_steps' ELSE 'completed' END AS status,
            substr(c.text, 1 + CAST(hash(i, 5) % 200000 AS BIGINT),
                   100 + CAST(hash(i, 6) % 200 AS BIGINT)) AS final_answer,
            CASE WHEN list_contains(?, i) THEN 100 ELSE {steps} END AS total_steps,
            TIMESTAMP '{base}' + to_microseconds(i * {spacing_us}) AS started_at,
            TIMESTAMP '{base}' + to_microseconds(i * {spacing_us} + d.dur * 1000) AS completed_at,
            d.dur::DOUBLE AS duration_ms,
            ['n8n', 'api', 'cli', 'schedule'][1 + CAST(hash(i, 7) % 4 AS INTEGER)] AS source,
            'workflow:' || (hash(i, 8) % 40) || '/execution:' || i AS triggered_by,
            CASE WHEN hash(i, 4) % 100 < 5
                 THEN 'RuntimeError: the agent gave up after a tool error' END AS error,
            '{{"host": "nas' || (i % 7) || '", "attempt": 1}}' AS metadata,
            md5('trace-' || i) AS trace_id, substr(md5('span-' || i), 1, 16) AS span_id,
            ['ops-agent', 'triage-agent', 'backup-agent'][1 + CAST(hash(i, 9) % 3 AS INTEGER)]
                AS agent_name,
            'bench-agent' AS service_name, 'ollama' AS provider,
            CAST(hash(i, 10) % 12000 AS BIGINT) AS input_tokens,
            CAST(hash(i, 11) % 2000 AS BIGINT) AS output_tokens,
            TIMESTAMP '{base}' + to_microseconds(i * {spacing_us} + d.dur * 1000) AS updated_at,
            TIMESTAMP '{base}' + to_microseconds(i * {spacing_us} + d.dur * 1000)
                AS last_activity_at,
            TRUE AS is_final
        FROM range({first}, {last}) t(i), corpus c,
             LATERAL (SELECT ?[1 + CAST(hash(i, 12) % 3 AS INTEGER)] AS model) m,
             LATERAL (SELECT CAST(2000 + hash(i, 13) % 60000 AS BIGINT) AS dur) d
        """,
        [long_run_indexes_param(con), list(_MODELS)],
    )


def long_run_indexes_param(con: duckdb.DuckDBPyConnection) -> list[int]:
    row = con.execute("SELECT runs FROM bench_meta").fetchone()
    return long_run_indexes(int(row[0])) if row else []


def _insert_steps(con: duckdb.DuckDBPyConnection, first: int, last: int, steps: int) -> None:
    base = SQL_BASE_TIME.isoformat()
    spacing_us = int(SQL_SPACING / timedelta(microseconds=1))
    con.execute(
        f"""
        INSERT INTO agent_steps BY NAME
        SELECT
            substr(md5('step-' || i || '-' || k), 1, 16) AS id,
            {_RUN_ID_SQL} AS agent_run_id,
            k + 1 AS step_number,
            CASE WHEN k = n - 1 THEN 'response' WHEN k % 2 = 0 THEN 'think'
                 ELSE 'tool_call' END AS action_type,
            CASE WHEN k <> n - 1 AND k % 2 = 1
                 THEN ?[1 + CAST(hash(i, k, 1) % 5 AS INTEGER)] END AS tool_name,
            CASE WHEN k <> n - 1 AND k % 2 = 1 THEN '{{"all": true}}' END AS tool_args,
            CASE WHEN k <> n - 1 AND k % 2 = 1
                 THEN substr(c.text, 1 + CAST(hash(i, k, 2) % 200000 AS BIGINT),
                             1024 + CAST(hash(i, k, 3) % 3073 AS BIGINT)) END AS tool_result,
            CASE WHEN k <> n - 1 AND k % 2 = 0
                 THEN substr(c.text, 1 + CAST(hash(i, k, 4) % 200000 AS BIGINT),
                             80 + CAST(hash(i, k, 5) % 320 AS BIGINT)) END AS thinking,
            CASE WHEN k % 2 = 1 AND hash(i, k, 6) % 100 < 3
                 THEN 'TimeoutError: command did not finish in 30 s' END AS error,
            TIMESTAMP '{base}' + to_microseconds(i * {spacing_us} + k * 600000) AS started_at,
            CAST(20 + hash(i, k, 7) % 1500 AS DOUBLE) AS duration_ms,
            md5('trace-' || i) AS trace_id,
            substr(md5('step-' || i || '-' || k), 1, 16) AS span_id,
            substr(md5('span-' || i), 1, 16) AS parent_span_id,
            CASE WHEN k = n - 1 THEN 'response' WHEN k % 2 = 0 THEN 'chat qwen2.5-coder:7b'
                 ELSE 'execute_tool docker_ps' END AS name,
            CASE WHEN k % 2 = 1 AND hash(i, k, 6) % 100 < 3 THEN 'error' ELSE 'ok' END AS status,
            CASE WHEN k % 2 = 0 AND k <> n - 1 THEN 'qwen2.5-coder:7b' END AS model,
            CASE WHEN k % 2 = 0 AND k <> n - 1 THEN CAST(200 + hash(i, k, 8) % 3800 AS BIGINT)
                 END AS input_tokens,
            CASE WHEN k % 2 = 0 AND k <> n - 1 THEN CAST(20 + hash(i, k, 9) % 580 AS BIGINT)
                 END AS output_tokens,
            TRUE AS is_final
        FROM (SELECT i, CASE WHEN list_contains(?, i) THEN 100 ELSE {steps} END AS n
              FROM range({first}, {last}) t(i)) r,
             LATERAL (SELECT unnest(range(r.n)) AS k) s, corpus c
        ORDER BY i, k
        """,
        [list(_TOOLS), long_run_indexes_param(con)],
    )


def build_via_sql(
    db_path: Path, *, runs: int, steps: int = 9, chunk: int = 25_000, progress: bool = True
) -> BuildResult:
    """Synthesise ``runs`` runs of ``steps`` steps (10 runs of 100) straight into DuckDB."""
    con = duckdb.connect(str(db_path))
    # Unbounded, a 100k-run chunk took 16 GB here: keep the build beside other work.
    con.execute("SET memory_limit = '2GB'")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    migrate(con)
    con.execute("CREATE TABLE IF NOT EXISTS bench_meta (runs BIGINT, steps INTEGER)")
    # An interrupted build resumes after its last committed chunk (runs go in index order).
    done_row = con.execute("SELECT count(*) FROM agent_runs").fetchone()
    start = int(done_row[0]) if done_row else 0
    if start == 0:
        con.execute("DELETE FROM bench_meta")
        con.execute("INSERT INTO bench_meta VALUES (?, ?)", [runs, steps])
    text = corpus(random.Random(7), 210_000)
    con.execute("CREATE TEMP TABLE corpus AS SELECT ? AS text", [text])
    began = time.monotonic()
    for first in range(start, runs, chunk):
        last = min(runs, first + chunk)
        con.execute("BEGIN")
        _insert_runs(con, first, last, steps)
        _insert_steps(con, first, last, steps)
        con.execute("COMMIT")
        if progress:
            elapsed = time.monotonic() - began
            rate = (last - start) / elapsed
            print(f"  {last:>9} runs  {elapsed:7.1f}s  {rate:8.0f} runs/s", flush=True)
    con.execute("CHECKPOINT")
    total_steps = con.execute("SELECT count(*) FROM agent_steps").fetchone()
    con.close()
    seconds = time.monotonic() - began
    steps_written = int(total_steps[0]) if total_steps else 0
    return BuildResult(runs=runs, steps=steps_written, spans=0, seconds=seconds)
