"""DuckDB schema: DDL by version, applied in order at start-up.

Times are UTC ``TIMESTAMP`` (no zone) in ``agent_runs`` and ``agent_steps``;
``spans`` keeps the OTLP nanosecond integers unchanged.
"""

from __future__ import annotations

import duckdb

__all__ = ["SCHEMA_VERSION", "migrate", "RUN_COLUMNS", "STEP_COLUMNS", "SPAN_COLUMNS"]

SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "service_name",
    "scope_name",
    "scope_version",
    "resource",
    "attributes",
    "events",
    "links",
    "received_at",
)

RUN_COLUMNS = (
    "id",
    "task",
    "working_directory",
    "model_requested",
    "model_used",
    "backend",
    "status",
    "final_answer",
    "total_steps",
    "started_at",
    "completed_at",
    "duration_ms",
    "source",
    "triggered_by",
    "error",
    "metadata",
    "trace_id",
    "span_id",
    "parent_run_id",
    "agent_name",
    "service_name",
    "provider",
    "input_tokens",
    "output_tokens",
    "updated_at",
    "last_activity_at",
    "is_final",
    "tool_names",
)

STEP_COLUMNS = (
    "id",
    "agent_run_id",
    "step_number",
    "action_type",
    "tool_name",
    "tool_args",
    "tool_result",
    "thinking",
    "error",
    "started_at",
    "duration_ms",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "status",
    "model",
    "input_tokens",
    "output_tokens",
    "finish_reasons",
    "is_final",
)

_V1 = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL);

CREATE TABLE IF NOT EXISTS spans (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name VARCHAR NOT NULL,
    kind INTEGER,
    start_ns BIGINT,
    end_ns BIGINT,
    status_code INTEGER,
    status_message VARCHAR,
    service_name VARCHAR,
    scope_name VARCHAR,
    scope_version VARCHAR,
    resource JSON,
    attributes JSON,
    events JSON,
    links JSON,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);

CREATE TABLE IF NOT EXISTS agent_runs (
    id VARCHAR PRIMARY KEY,
    task VARCHAR,
    working_directory VARCHAR,
    model_requested VARCHAR,
    model_used VARCHAR,
    backend VARCHAR,
    status VARCHAR NOT NULL,
    final_answer VARCHAR,
    total_steps INTEGER NOT NULL DEFAULT 0,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    duration_ms DOUBLE,
    source VARCHAR,
    triggered_by VARCHAR,
    error VARCHAR,
    metadata JSON,
    trace_id VARCHAR,
    span_id VARCHAR,
    parent_run_id VARCHAR,
    agent_name VARCHAR,
    service_name VARCHAR,
    provider VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    updated_at TIMESTAMP NOT NULL,
    last_activity_at TIMESTAMP,
    is_final BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE IF NOT EXISTS agent_steps (
    id VARCHAR PRIMARY KEY,
    agent_run_id VARCHAR,
    step_number INTEGER,
    action_type VARCHAR NOT NULL,
    tool_name VARCHAR,
    tool_args JSON,
    tool_result VARCHAR,
    thinking VARCHAR,
    error VARCHAR,
    started_at TIMESTAMP,
    duration_ms DOUBLE,
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name VARCHAR,
    status VARCHAR NOT NULL,
    model VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    finish_reasons VARCHAR,
    is_final BOOLEAN NOT NULL DEFAULT FALSE
);

-- Tamper evidence (collector/chain.py): one link per stored span, in commit order.
CREATE TABLE IF NOT EXISTS span_chain (
    seq BIGINT PRIMARY KEY,
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    hash BLOB NOT NULL
);
-- Where the chain starts: seq 0 and zeros, or the last link retention removed.
CREATE TABLE IF NOT EXISTS chain_anchor (seq BIGINT NOT NULL, hash BLOB NOT NULL);
-- Every retention pass, kept forever.
CREATE TABLE IF NOT EXISTS retention_log (
    ran_at TIMESTAMP NOT NULL,
    cutoff TIMESTAMP NOT NULL,
    runs_deleted BIGINT NOT NULL,
    steps_deleted BIGINT NOT NULL,
    spans_deleted BIGINT NOT NULL,
    anchor_seq BIGINT NOT NULL,
    anchor_hash BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS cancel_requests (
    run_id VARCHAR PRIMARY KEY,
    requested_at TIMESTAMP NOT NULL,
    requested_by VARCHAR,
    reason VARCHAR
);
"""

# Drill-down reads one run's steps: without an index that is a scan of every
# step (144 ms at 9M steps; 4 ms with it).
_V2 = """
CREATE INDEX IF NOT EXISTS agent_steps_run_id ON agent_steps (agent_run_id);
"""

# The tools each run called, kept on the run row: filtering runs by tool then
# reads one column of runs instead of joining every step.
_V3 = """
ALTER TABLE agent_runs ADD COLUMN IF NOT EXISTS tool_names VARCHAR[];
UPDATE agent_runs SET tool_names = t.names FROM (
    SELECT agent_run_id, list_sort(list(DISTINCT tool_name)) AS names
    FROM agent_steps WHERE tool_name IS NOT NULL AND agent_run_id IS NOT NULL
    GROUP BY agent_run_id
) t WHERE agent_runs.id = t.agent_run_id;
"""

# Links of spans removed by retention: the chain still walks through them.
_V4 = """
CREATE TABLE IF NOT EXISTS chain_tombstones (
    seq BIGINT PRIMARY KEY,
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    hash BLOB NOT NULL,
    removed_at TIMESTAMP NOT NULL
);
"""

# Each entry moves the file from version i to i + 1.
_MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(_MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The file was written by a newer agent-audit than this one."""


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the file, 0 for a new file."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()
    if not exists or exists[0] == 0:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the file to SCHEMA_VERSION; return the version it had before."""
    before = current_version(con)
    if before > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {before} is newer than this agent-audit "
            f"understands ({SCHEMA_VERSION}); upgrade agent-audit"
        )
    for version in range(before, SCHEMA_VERSION):
        con.execute("BEGIN")
        con.execute(_MIGRATIONS[version])
        con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [version + 1])
        con.execute("COMMIT")
    return before
