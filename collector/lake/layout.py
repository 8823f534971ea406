"""Where rows live in the lake, and why.

DuckLake on PostgreSQL refuses to commit a transaction that deletes from a
table another concurrent transaction inserted into (and the reverse);
appends never conflict (bench/lake_probe.py: 3 writers replacing rows in one
shared table had 35 of 120 commits rolled back; with a table per writer, none).
So:

- ``main.spans`` is shared and append-only: every span exactly once.
- Rows that change (``agent_runs``, ``agent_steps``, and the small tables:
  ``cancel_requests``, ``model_prices``, ``annotations``) are
  replaced by key, each collector in its own schema ``c_<collector id>``; only
  that collector writes there, so replacing never conflicts.
- ``c_<id>.ship_marks`` records, in the same lake transaction as the rows, how
  far that collector's local file has been shipped (its hash-chain sequence and
  link hash): the watermark that makes shipping exactly-once.

Readers see one ``agent_runs`` / ``agent_steps`` / ``cancel_requests`` over all
collectors through views (collector/lake/reader.py).

DuckLake has no indexes; a lookup skips data by the min/max statistics of
files and Parquet row groups. So tables are sorted as they are written (on
insert, compaction and flushing) by what the API looks up, in small row groups:
a run page's steps (``agent_run_id``) sit in one row group instead of being
spread over all, and the run list (newest ``started_at`` first) reads the
newest row groups (measured in README "Scaling out").
"""

from __future__ import annotations

import re

import duckdb

from collector.columns import AGENT_RUNS, AGENT_STEPS, SPANS

__all__ = [
    "SHARED_TABLES",
    "OWNED_TABLES",
    "SMALL_TABLES",
    "collector_schema",
    "lake_columns",
    "ensure_lake_tables",
    "collector_schemas",
    "SORT_ORDERS",
    "ROW_GROUP_ROWS",
]

SHARED_TABLES = ("spans",)
# Small tables written by hand or by the collector's own bookkeeping: shipped
# by a time stamp column, replaced by their key.
SMALL_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "cancel_requests": ("requested_at", ("run_id",)),
    "model_prices": ("priced_at", ("model", "provider")),
    "annotations": ("created_at", ("id",)),
}
OWNED_TABLES = ("agent_runs", "agent_steps", *SMALL_TABLES)
_SCHEMA_PREFIX = "c_"
_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")


def collector_schema(collector_id: str) -> str:
    """The lake schema that one collector owns."""
    if not _ID.match(collector_id):
        raise ValueError(f"collector id {collector_id!r} must be 1-63 characters of a-z, 0-9 and _")
    return _SCHEMA_PREFIX + collector_id


# What each table is sorted by in its Parquet files (DuckLake SET SORTED BY).
SORT_ORDERS = {
    "spans": "trace_id, start_ns",
    "agent_runs": "started_at DESC",
    "agent_steps": "agent_run_id, step_number",
}
# Rows per Parquet row group: smaller than DuckDB's 122,880 so that a lookup
# that matches one row group decompresses few rows of the wide text columns.
ROW_GROUP_ROWS = 8192

_DECLARED = {"spans": SPANS, "agent_runs": AGENT_RUNS, "agent_steps": AGENT_STEPS}


def lake_columns(local: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """Column names and types of a table, constraints left out (a lake has none).

    The three main tables come from their declarations (collector/columns.py);
    others as the local file has them.
    """
    if table in _DECLARED:
        return [(c.name, c.sql_type) for c in _DECLARED[table]]
    rows = local.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    if not rows:
        raise ValueError(f"the local database has no table {table!r}")
    return [(str(name), str(kind)) for name, kind in rows]


def _create(lake: duckdb.DuckDBPyConnection, name: str, columns: list[tuple[str, str]]) -> None:
    """Create the table, or add the columns a newer agent-audit declares."""
    body = ", ".join(f'"{col}" {kind}' for col, kind in columns)
    lake.execute(f"CREATE TABLE IF NOT EXISTS {name} ({body})")
    catalog, schema, table = name.split(".")
    present = {
        str(row[0])
        for row in lake.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = ? AND table_name = ?",
            [catalog, schema, table],
        ).fetchall()
    }
    for col, kind in columns:
        if col not in present:
            lake.execute(f'ALTER TABLE {name} ADD COLUMN "{col}" {kind}')


def ensure_lake_tables(
    lake: duckdb.DuckDBPyConnection,
    alias: str,
    schema: str,
    columns: dict[str, list[tuple[str, str]]],
) -> None:
    """Create the shared tables and this collector's own, if missing.

    Two collectors starting at once may race on the shared DDL; the loser's
    commit fails and it simply tries again (the caller retries).
    """
    lake.execute("BEGIN")
    try:
        for table in SHARED_TABLES:
            _create(lake, f"{alias}.main.{table}", columns[table])
        lake.execute(f"CREATE SCHEMA IF NOT EXISTS {alias}.{schema}")
        for table in OWNED_TABLES:
            _create(lake, f"{alias}.{schema}.{table}", columns[table])
        _create(
            lake,
            f"{alias}.{schema}.ship_marks",
            [("seq", "BIGINT"), ("hash", "BLOB"), ("updated_mark", "TIMESTAMP")],
        )
        _sort_tables(lake, alias, schema)
        lake.execute("COMMIT")
    except BaseException:
        lake.execute("ROLLBACK")
        raise
    options = dict(lake.execute(f"SELECT option_name, value FROM {alias}.options()").fetchall())
    if options.get("parquet_row_group_size") != str(ROW_GROUP_ROWS):
        lake.execute(f"CALL {alias}.set_option('parquet_row_group_size', {ROW_GROUP_ROWS})")


def _sort_tables(lake: duckdb.DuckDBPyConnection, alias: str, schema: str) -> None:
    """SET SORTED BY on the tables that are not sorted yet (a lake from before)."""
    meta = f"__ducklake_metadata_{alias}"
    for table_schema, table in [
        ("main", "spans"),
        (schema, "agent_runs"),
        (schema, "agent_steps"),
    ]:
        row = lake.execute(
            f"SELECT count(*) FROM {meta}.ducklake_table t "
            f"JOIN {meta}.ducklake_schema s ON s.schema_id = t.schema_id "
            f"JOIN {meta}.ducklake_sort_info i ON i.table_id = t.table_id "
            "WHERE s.schema_name = ? AND t.table_name = ? AND t.end_snapshot IS NULL "
            "AND s.end_snapshot IS NULL AND i.end_snapshot IS NULL",
            [table_schema, table],
        ).fetchone()
        if not row or not row[0]:
            lake.execute(
                f"ALTER TABLE {alias}.{table_schema}.{table} SET SORTED BY ({SORT_ORDERS[table]})"
            )


def collector_schemas(lake: duckdb.DuckDBPyConnection, alias: str) -> list[str]:
    """Schemas of every collector that has shipped to the lake, sorted."""
    rows = lake.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? "
        "AND starts_with(schema_name, ?) ORDER BY schema_name",
        [alias, _SCHEMA_PREFIX],
    ).fetchall()
    return [str(r[0]) for r in rows]
