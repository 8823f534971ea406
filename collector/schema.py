"""DuckDB schema: DDL by version, applied in order at start-up.

The columns of the three span-derived tables are declared in collector/columns.py;
the DDL below is derived from them (the version that added each column included).

Times are UTC ``TIMESTAMP`` (no zone) in ``agent_runs`` and ``agent_steps``;
``spans`` keeps the OTLP nanosecond integers unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import duckdb

from collector.columns import AGENT_RUNS, AGENT_STEPS, SPANS, Column, column_ddl, names
from collector.errors import CollectorError
from collector.schema_costs import COSTS_AND_ANNOTATIONS_DDL
from collector.server_commands import COMMAND_FIELDS, command_fields
from collector.trace_arrivals import TRACE_ARRIVALS_DDL

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_VERSION",
    "migrate",
    "current_version",
    "SchemaTooNew",
    "RUN_COLUMNS",
    "STEP_COLUMNS",
    "SPAN_COLUMNS",
]

SPAN_COLUMNS = names(SPANS)
RUN_COLUMNS = names(AGENT_RUNS)
STEP_COLUMNS = names(AGENT_STEPS)


def _create(table: str, columns: tuple[Column, ...], *extra: str) -> str:
    lines = ",\n    ".join([*column_ddl(columns, since=1), *extra])
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {lines}\n);"


def _add_columns(table: str, columns: tuple[Column, ...], since: int) -> str:
    return "\n".join(
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {ddl};"
        for ddl in column_ddl(columns, since=since)
    )


_V1 = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL);

{_create("spans", SPANS, "PRIMARY KEY (trace_id, span_id)")}

{_create("agent_runs", AGENT_RUNS)}

{_create("agent_steps", AGENT_STEPS)}

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
_V3 = f"""
{_add_columns("agent_runs", AGENT_RUNS, since=3)}
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

# Model prices, the cost views and annotations (collector/schema_costs.py).
_V5 = COSTS_AND_ANNOTATIONS_DDL

# Keyed chain (collector/chain_key.py): links from keyed_from_seq on are HMACs
# under the key whose public id is recorded; earlier links stay plain sha256.
_V6 = """
CREATE TABLE IF NOT EXISTS chain_keying (
    keyed_from_seq BIGINT NOT NULL,
    key_id VARCHAR NOT NULL,
    since TIMESTAMP NOT NULL
);
"""

# Tamper evidence for cancel requests and retention passes (collector/record_chain.py):
# one link per event, holding the row as written (canonical JSON).
_V7 = """
CREATE TABLE IF NOT EXISTS record_chain (
    seq BIGINT PRIMARY KEY,
    kind VARCHAR NOT NULL,
    record_key VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    hash BLOB NOT NULL
);
"""

# When each trace's first span was stored, so ingest's reads of a trace's spans
# skip what came before, and an index on the runs' trace ids
# (collector/trace_arrivals.py).
_V8 = TRACE_ARRIVALS_DDL


def _v9(con: duckdb.DuckDBPyConnection) -> None:
    """The command each tool step ran on a server, as columns of the step row; steps
    stored before are filled from their spans' ssh.* attributes by the same reading
    ingest applies (collector/server_commands.py), so a replay finds them equal."""
    con.execute(_add_columns("agent_steps", AGENT_STEPS, since=9))
    rows = con.execute(
        """
        SELECT st.id, s.attributes FROM agent_steps st
        JOIN spans s ON s.trace_id = st.trace_id AND s.span_id = st.span_id
        WHERE json_exists(s.attributes, '$."ssh.argv"')
            OR json_exists(s.attributes, '$."ssh.host"')
            OR json_exists(s.attributes, '$."ssh.command"')
            OR json_exists(s.attributes, '$."ssh.decision"')
        """
    ).fetchall()
    assignments = ", ".join(f"{name} = ?" for name in COMMAND_FIELDS)
    updates = []
    for step_id, attributes in rows:
        fields = command_fields(json.loads(attributes) if isinstance(attributes, str) else {})
        updates.append([*(fields[name] for name in COMMAND_FIELDS), step_id])
    if updates:
        con.executemany(f"UPDATE agent_steps SET {assignments} WHERE id = ?", updates)


# Each entry moves the file from version i to i + 1: DDL, or a function for a version
# that computes values in Python.
_MIGRATIONS: tuple[str | Callable[[duckdb.DuckDBPyConnection], None], ...] = (
    _V1,
    _V2,
    _V3,
    _V4,
    _V5,
    _V6,
    _V7,
    _V8,
    _v9,
)
SCHEMA_VERSION = len(_MIGRATIONS)


class SchemaTooNew(CollectorError, RuntimeError):
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
    if 0 < before < SCHEMA_VERSION:
        # Some versions rewrite or index whole tables: seconds per million runs.
        logger.warning(
            "upgrading the database schema from version %d to %d; on a large file this "
            "takes a while",
            before,
            SCHEMA_VERSION,
        )
    started = time.monotonic()
    for version in range(before, SCHEMA_VERSION):
        con.execute("BEGIN")
        step = _MIGRATIONS[version]
        if callable(step):
            step(con)
        else:
            con.execute(step)
        con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [version + 1])
        con.execute("COMMIT")
    if 0 < before < SCHEMA_VERSION:
        logger.warning("schema upgraded in %.1f s", time.monotonic() - started)
    return before
