"""Big databases for the query benchmark, built two ways.

``build_via_store``: the real path. Agent-shaped OTLP requests from
bench.workload are decoded by ``collector.decode`` and written with
``RunStore.write_spans`` in big batches (the store's own group commit), so
spans, runs, steps and the hash chain are exactly what the collector stores.
Tens to a few hundred runs a second here: for sizes up to ~100k.

``build_via_sql``: ``agent_steps``, ``agent_runs`` and ``spans`` rows
synthesised set-based by DuckDB (``INSERT .. SELECT`` over ``range()``, chunk by
chunk) into a file whose schema comes from ``collector.schema.migrate``, so the
real query code runs on it. Each chunk's steps are generated first, into a
temporary table; the runs' step aggregates (``total_steps``, tokens,
``tool_names``) are then computed from them as the ingest computes them. Runs
go in start order (as the collector appends them); the last few are still
running; 0.5% are annotated. It writes no hash-chain rows (``verify`` would report the gap), and
span attributes carry the step's ids, model, tool and tokens but not its text.

Shapes (fixed for a seed, the same at every size): 12 agents, 8 models (3
providers), 4 sources, each with a skewed (Zipf-like) share; statuses 88%
completed, 5% failed, 3% max_steps, 1.5% cancelled, 1% lost; 2 to 13 steps a
run (10 runs of 100); tool results of 60 B to 4 KB, most short; text drawn from
a log-like corpus over a vocabulary of ~3,000 words plus numbers (pids, byte
counts, ports) that are rare or unique.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from bench.workload import WorkloadSpec, generate_requests
from collector.decode import decode_protobuf
from collector.schema import migrate
from collector.store import RunStore

__all__ = [
    "SQL_BASE_TIME",
    "SQL_SPACING",
    "AGENTS",
    "MODELS",
    "BuildResult",
    "build_via_store",
    "build_via_sql",
    "add_annotations",
    "long_run_indexes",
    "sql_run_id",
    "text_corpus",
]

SQL_BASE_TIME = datetime(2026, 8, 1)
SQL_SPACING = timedelta(seconds=2.592)  # 1M runs over 30 days
# Most used first: a value's share falls off with its position (see _skewed).
AGENTS = (
    "ops-agent",
    "triage-agent",
    "backup-agent",
    "deploy-agent",
    "log-digest",
    "cost-watch",
    "db-doctor",
    "cert-renewer",
    "disk-janitor",
    "incident-bot",
    "nightly-report",
    "canary-checker",
)
# (model, provider)
MODELS = (
    ("qwen2.5-coder:7b", "ollama"),
    ("llama3.1:8b", "ollama"),
    ("gpt-4o-mini", "openai"),
    ("claude-3-5-haiku-latest", "anthropic"),
    ("mistral-small:24b", "ollama"),
    ("gpt-4.1", "openai"),
    ("claude-sonnet-4-0", "anthropic"),
    ("qwen3:32b", "ollama"),
)
SOURCES = ("n8n", "schedule", "api", "cli")
TOOLS = (
    "docker_ps",
    "docker_logs",
    "docker_inspect",
    "docker_stats",
    "disk_usage",
    "docker_restart",
    "http_get",
    "read_file",
    "run_sql",
    "send_alert",
)
CONTAINERS = (
    "homepage",
    "postgres",
    "redis",
    "nginx",
    "grafana",
    "prometheus",
    "nextcloud",
    "immich",
    "jellyfin",
    "vaultwarden",
    "traefik",
    "minio",
    "gitea",
    "mqtt",
    "paperless",
    "plex",
)
_STEMS = (
    "container",
    "restart",
    "memory",
    "limit",
    "disk",
    "volume",
    "network",
    "bridge",
    "backup",
    "cron",
    "failed",
    "healthy",
    "unhealthy",
    "timeout",
    "connection",
    "refused",
    "killed",
    "oom",
    "port",
    "mount",
    "image",
    "pull",
    "layer",
    "cache",
    "warning",
    "error",
    "info",
    "exited",
    "started",
    "stopped",
    "listening",
    "request",
    "response",
    "latency",
    "query",
    "index",
    "checkpoint",
    "replica",
    "upstream",
    "certificate",
    "expired",
    "denied",
    "socket",
    "handshake",
    "migration",
    "schema",
    "worker",
    "queue",
    "retry",
    "throttled",
)
_SUFFIXES = ("", "s", "ed", "ing", "er", "_id", "_count", "_ms", "-v2", "_total")


def _vocabulary(rng: random.Random) -> list[str]:
    """~3,000 words: stems with suffixes, container names, and made-up identifiers."""
    words = [stem + suffix for stem in _STEMS for suffix in _SUFFIXES]
    words += list(CONTAINERS)
    letters = "abcdefghijklmnopqrstuvwxyz"
    while len(words) < 3000:
        words.append("".join(rng.choice(letters) for _ in range(rng.randint(4, 10))))
    return words


def text_corpus(size: int = 4 * 2**20, seed: int = 7) -> str:
    """Log-like lines, words Zipf-distributed (few common, many rare), numbers mostly unique."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    lines: list[str] = []
    total = 0
    while total < size:
        count = rng.randint(4, 14)
        words = " ".join(vocabulary[int(len(vocabulary) * rng.random() ** 3)] for _ in range(count))
        level = rng.choice(("INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"))
        line = (
            f"2026-08-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d}Z {level} {rng.choice(CONTAINERS)}[{rng.randint(1, 65535)}] "
            f"{words} bytes={rng.randint(0, 10**9)} port={rng.randint(1024, 65535)}\n"
        )
        lines.append(line)
        total += len(line)
    return "".join(lines)


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


def _skewed(salt: str, count: int) -> str:
    """SQL: a 1-based index in 1..count for run i, index 1 the most frequent (u^2 skew)."""
    return f"(1 + CAST(floor({count} * pow((hash(i, {salt}) % 1000000) / 1e6, 2)) AS INTEGER))"


def _u(salt: str, scale: int = 1000) -> str:
    """SQL: a uniform integer in 0..scale-1 for run i (and step k where in scope)."""
    return f"(hash(i, {salt}) % {scale})"


def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


# The plan of each run: its status, shape and choices, from which steps and the run row follow.
_PLAN = f"""
CREATE OR REPLACE TEMP TABLE plan AS
SELECT i,
       {_RUN_ID_SQL} AS run_id,
       md5('trace-' || i) AS trace_id,
       substr(md5('span-' || i), 1, 16) AS span_id,
       CASE WHEN i >= $runs - $running THEN 'running'
            WHEN {_u("1")} < 50 THEN 'failed'
            WHEN {_u("1")} < 80 THEN 'max_steps'
            WHEN {_u("1")} < 95 THEN 'cancelled'
            WHEN {_u("1")} < 105 THEN 'lost'
            ELSE 'completed' END AS status,
       CASE WHEN list_contains($long, i) THEN 100
            ELSE 2 + CAST({_u("2", 7)} + {_u("3", 6)} AS INTEGER) END AS n,
       {_skewed("4", len(AGENTS))} AS agent,
       {_skewed("5", len(MODELS))} AS model,
       {_skewed("6", len(SOURCES))} AS source,
       1 + CAST({_u("7", len(CONTAINERS))} AS INTEGER) AS container,
       $base_us + i * $spacing_us + CAST({_u("8", 2000000)} AS BIGINT) AS start_us
FROM range($first, $last) t(i)
"""

# Step k of run i: think (model call) on even k, a tool call on odd k, a response last.
_STEPS = f"""
CREATE OR REPLACE TEMP TABLE chunk_steps AS
SELECT p.i, k, p.run_id, p.trace_id, p.span_id AS run_span_id, p.status AS run_status,
       substr(md5('step-' || p.i || '-' || k), 1, 16) AS id,
       CASE WHEN k = p.n - 1 AND p.status <> 'running' THEN 'response'
            WHEN k % 2 = 0 THEN 'think' ELSE 'tool_call' END AS action_type,
       CASE WHEN action_type = 'tool_call'
            THEN {_sql_list(TOOLS)}[1 + CAST(floor(10 * pow((hash(p.i, k, 1) % 1000) / 1e3, 2))
                                         AS INTEGER)] END AS tool_name,
       -- Most results are short, a few are pages of logs.
       CAST(60 + 4000 * pow((hash(p.i, k, 3) % 10000) / 1e4, 3) AS BIGINT) AS result_len,
       (p.status = 'failed' AND k = p.n - 2) OR hash(p.i, k, 6) % 100 < 2 AS failed_call,
       k = p.n - 1 AS is_last,
       p.start_us + k * 2500000 + CAST(hash(p.i, k, 7) % 1000000 AS BIGINT) AS start_us,
       CAST(20 + pow((hash(p.i, k, 8) % 1000) / 1e3, 3) * 30000 AS DOUBLE) AS duration_ms,
       {_sql_list(tuple(m for m, _ in MODELS))}[p.model] AS model_name
FROM plan p, LATERAL (SELECT unnest(range(p.n)) AS k) s
"""

_INSERT_STEPS = """
INSERT INTO agent_steps BY NAME
SELECT s.id, s.run_id AS agent_run_id, k + 1 AS step_number, s.action_type, s.tool_name,
       CASE WHEN s.tool_name IS NOT NULL THEN json_object(
            'container', $containers[1 + CAST(hash(i, k, 9) % 16 AS INTEGER)],
            'tail', 50 + CAST(hash(i, k, 10) % 450 AS INTEGER)) END AS tool_args,
       CASE WHEN s.tool_name IS NOT NULL AND NOT s.failed_call
            THEN 'exit_code=0 bytes=' || (hash(i, k, 11) % 1000000000) || ' '
                 || substr($corpus, 1 + CAST(hash(i, k, 2) % $corpus_span AS BIGINT), s.result_len)
            END AS tool_result,
       CASE WHEN s.action_type = 'think'
            THEN substr($corpus, 1 + CAST(hash(i, k, 4) % $corpus_span AS BIGINT),
                        80 + CAST(hash(i, k, 5) % 320 AS BIGINT)) END AS thinking,
       CASE WHEN s.tool_name IS NOT NULL AND s.failed_call
            THEN ['TimeoutError: command did not finish in 30 s',
                  'ConnectionRefusedError: [Errno 111] Connection refused',
                  'PermissionError: docker socket denied'][1 + CAST(hash(i, k, 12) % 3 AS INTEGER)]
            END AS error,
       make_timestamp(s.start_us) AS started_at,
       CASE WHEN s.run_status = 'running' AND s.is_last THEN NULL
            ELSE s.duration_ms END AS duration_ms,
       s.trace_id, s.id AS span_id, s.run_span_id AS parent_span_id,
       CASE s.action_type WHEN 'think' THEN 'chat ' || s.model_name
            WHEN 'tool_call' THEN 'execute_tool ' || s.tool_name ELSE 'response' END AS name,
       CASE WHEN s.tool_name IS NOT NULL AND s.failed_call THEN 'error' ELSE 'ok' END AS status,
       CASE WHEN s.action_type = 'think' THEN s.model_name END AS model,
       CASE WHEN s.action_type = 'think' THEN CAST(200 + hash(i, k, 13) % 7800 AS BIGINT)
            END AS input_tokens,
       CASE WHEN s.action_type = 'think' THEN CAST(20 + hash(i, k, 14) % 900 AS BIGINT)
            END AS output_tokens,
       CASE WHEN s.action_type = 'think' THEN '["stop"]' END AS finish_reasons,
       TRUE AS is_final
FROM chunk_steps s
"""

_INSERT_RUNS = f"""
INSERT INTO agent_runs BY NAME
SELECT p.run_id AS id,
       ['Investigate why ', 'Restart ', 'Check the logs of ', 'Summarise alerts for ',
        'Free disk space used by ', 'Back up ', 'Find the cause of the crash of ']
           [1 + CAST({_u("20", 7)} AS INTEGER)]
         || $containers[p.container] || ' on nas' || (i % 7) || ': '
         || substr($corpus, 1 + CAST({_u("21", 1000000)} AS BIGINT),
                   30 + CAST({_u("22", 90)} AS BIGINT))
         AS task,
       '/srv/' || $containers[p.container] AS working_directory,
       $models[p.model] AS model_requested,
       coalesce(a.last_model, $models[p.model]) AS model_used,
       ['3090', 'a100', 'cpu'][1 + CAST({_u("23", 3)} AS INTEGER)] AS backend,
       p.status,
       CASE WHEN p.status IN ('completed', 'max_steps')
            THEN 'The ' || $containers[p.container] || ' container '
                 || ['was restarted and is healthy again', 'ran out of memory',
                     'could not reach its database', 'is fine; the alert was a false positive',
                     'filled its volume with logs'][1 + CAST({_u("24", 5)} AS INTEGER)]
                 || '. pid=' || {_u("25", 65536)} || ' freed bytes=' || {_u("26", 1000000000)}
                 || '. ' || substr($corpus, 1 + CAST({_u("27", 1000000)} AS BIGINT),
                                   60 + CAST({_u("28", 240)} AS BIGINT))
            END AS final_answer,
       a.steps AS total_steps,
       make_timestamp(p.start_us) AS started_at,
       CASE WHEN p.status <> 'running' THEN make_timestamp(a.end_us + 5000) END AS completed_at,
       CASE WHEN p.status <> 'running' THEN (a.end_us + 5000 - p.start_us) / 1000.0
            END AS duration_ms,
       $sources[p.source] AS source,
       'workflow:' || {_u("29", 40)} || '/execution:' || i AS triggered_by,
       CASE p.status WHEN 'failed' THEN 'RuntimeError: the agent gave up after a tool error'
            WHEN 'lost' THEN 'lost: no span for 600 s' END AS error,
       json_object('host', 'nas' || (i % 7), 'attempt', 1) AS metadata,
       p.trace_id, p.span_id,
       $agents[p.agent] AS agent_name,
       'bench-agent' AS service_name,
       $providers[p.model] AS provider,
       a.input_tokens, a.output_tokens,
       make_timestamp(a.end_us + 5000) AS updated_at,
       make_timestamp(a.end_us) AS last_activity_at,
       p.status <> 'running' AS is_final,
       a.tool_names
FROM plan p JOIN (
    SELECT i, count(*) AS steps, sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           arg_max(model, started_at) FILTER (WHERE model IS NOT NULL) AS last_model,
           list_sort(list(DISTINCT tool_name) FILTER (WHERE tool_name IS NOT NULL)) AS tool_names,
           max(epoch_us(started_at) + CAST(coalesce(duration_ms, 0) * 1000 AS BIGINT)) AS end_us
    FROM (SELECT s.i, st.* FROM chunk_steps s JOIN agent_steps st ON st.id = s.id)
    GROUP BY i
) a USING (i)
ORDER BY i
"""

# One span per run and per step: ids, names, times and the attributes the ingest maps
# (not the step's text, which the steps table holds).
_INSERT_SPANS = """
INSERT INTO spans BY NAME
SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,
       status_message, 'bench-agent' AS service_name, 'agent_audit' AS scope_name,
       '0.1.0' AS scope_version,
       '{"service.name": "bench-agent", "host.name": "bench"}' AS resource,
       attributes, '[]' AS events, '[]' AS links, received_at
FROM (
    SELECT r.trace_id, r.span_id, NULL AS parent_span_id, 'invoke_agent ' || r.agent_name AS name,
           1 AS kind, epoch_us(r.started_at) * 1000 AS start_ns,
           epoch_us(r.completed_at) * 1000 AS end_ns,
           CASE WHEN r.status = 'failed' THEN 2 ELSE 1 END AS status_code,
           r.error AS status_message,
           json_object('gen_ai.operation.name', 'invoke_agent', 'gen_ai.agent.name', r.agent_name,
                       'agent_audit.run.id', r.id, 'agent_audit.run.status', r.status,
                       'gen_ai.request.model', r.model_requested) AS attributes,
           coalesce(r.completed_at, r.started_at) AS received_at, r.started_at AS sort_at
    FROM agent_runs r WHERE r.id IN (SELECT run_id FROM plan) AND r.is_final
    UNION ALL
    SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, 1, epoch_us(s.started_at) * 1000,
           epoch_us(s.started_at) * 1000 + CAST(s.duration_ms * 1e6 AS BIGINT),
           CASE WHEN s.status = 'error' THEN 2 ELSE 1 END, s.error,
           json_object('agent_audit.run.id', s.agent_run_id,
                       'agent_audit.step.action_type', s.action_type,
                       'gen_ai.tool.name', s.tool_name, 'gen_ai.request.model', s.model,
                       'gen_ai.usage.input_tokens', s.input_tokens,
                       'gen_ai.usage.output_tokens', s.output_tokens),
           s.started_at + to_microseconds(CAST(coalesce(s.duration_ms, 0) * 1000 AS BIGINT)),
           s.started_at
    FROM agent_steps s JOIN chunk_steps c ON c.id = s.id
    WHERE s.duration_ms IS NOT NULL
)
ORDER BY sort_at
"""


# 0.5% of runs carry a person's mark: a verdict (good or bad) or a label.
_ANNOTATIONS = """
INSERT INTO annotations (id, run_id, kind, value, author, created_at)
SELECT md5('annotation-' || id), id,
       ['good', 'good', 'bad', 'label'][1 + CAST(hash('kind-' || id) % 4 AS INTEGER)] AS kind,
       CASE WHEN kind = 'label'
            THEN ['wrong-tool', 'flaky', 'slow', 'needs-review']
                 [1 + CAST(hash('label-' || id) % 4 AS INTEGER)] END,
       ['ana', 'bo', 'chen'][1 + CAST(hash('author-' || id) % 3 AS INTEGER)],
       coalesce(completed_at, started_at) + INTERVAL 1 HOUR
FROM agent_runs WHERE hash(id, 1) % 1000 < 5
"""


def add_annotations(con: duckdb.DuckDBPyConnection) -> int:
    """Annotate 0.5% of the runs (once: a database that has annotations is left alone)."""
    present = con.execute("SELECT count(*) FROM annotations").fetchone()
    if present and present[0]:
        return 0
    con.execute(_ANNOTATIONS)
    added = con.execute("SELECT count(*) FROM annotations").fetchone()
    return int(added[0]) if added else 0


def build_via_sql(
    db_path: Path,
    *,
    runs: int,
    steps: int = 9,
    chunk: int = 20_000,
    progress: bool = True,
    spans: bool = True,
    running: int = 20,
) -> BuildResult:
    """Synthesise ``runs`` runs (see the module's doc for their shape) straight into DuckDB.

    ``steps`` is kept for callers of the older layout and ignored: step counts vary.
    An interrupted build resumes after its last committed chunk.
    """
    del steps
    con = duckdb.connect(str(db_path))
    # Unbounded, a big chunk took 16 GB here: keep the build beside other work.
    con.execute("SET memory_limit = '3GB'")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    migrate(con)
    con.execute("CREATE TABLE IF NOT EXISTS bench_meta (runs BIGINT, steps INTEGER)")
    done_row = con.execute("SELECT count(*) FROM agent_runs").fetchone()
    start = int(done_row[0]) if done_row else 0
    if start == 0:
        con.execute("DELETE FROM bench_meta")
        con.execute("INSERT INTO bench_meta VALUES (?, 0)", [runs])
    corpus = text_corpus()
    params = {
        "corpus": corpus,
        "corpus_span": len(corpus) - 5000,
        "containers": list(CONTAINERS),
        "agents": list(AGENTS),
        "models": [m for m, _ in MODELS],
        "providers": [p for _, p in MODELS],
        "sources": list(SOURCES),
    }
    base_us = (SQL_BASE_TIME - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    spacing_us = SQL_SPACING // timedelta(microseconds=1)
    began = time.monotonic()
    for first in range(start, runs, chunk):
        last = min(runs, first + chunk)
        con.execute("BEGIN")
        con.execute(
            _PLAN,
            {
                "runs": runs,
                "running": running,
                "long": long_run_indexes(runs),
                "base_us": base_us,
                "spacing_us": spacing_us,
                "first": first,
                "last": last,
            },
        )
        con.execute(_STEPS)
        con.execute(_INSERT_STEPS, {k: params[k] for k in ("corpus", "corpus_span", "containers")})
        con.execute(_INSERT_RUNS, {k: v for k, v in params.items() if k != "corpus_span"})
        if spans:
            con.execute(_INSERT_SPANS)
        con.execute("COMMIT")
        if progress:
            elapsed = time.monotonic() - began
            rate = (last - start) / elapsed
            print(f"  {last:>9} runs  {elapsed:7.1f}s  {rate:8.0f} runs/s", flush=True)
    con.execute("DROP TABLE IF EXISTS plan")
    con.execute("DROP TABLE IF EXISTS chunk_steps")
    add_annotations(con)
    con.execute("CHECKPOINT")
    counts = con.execute(
        "SELECT (SELECT count(*) FROM agent_steps), (SELECT count(*) FROM spans)"
    ).fetchone()
    con.close()
    seconds = time.monotonic() - began
    steps_written, spans_written = (int(counts[0]), int(counts[1])) if counts else (0, 0)
    return BuildResult(runs=runs, steps=steps_written, spans=spans_written, seconds=seconds)
