"""One query surface over every collector's rows in the lake.

A read-only ATTACH of the lake, then views in the connection's own in-memory
catalog named like the single-node tables (``agent_runs``, ``agent_steps``,
``spans``, ``cancel_requests``), so the REST API's queries and users' /sql run
unchanged. ``agent_runs`` is the UNION ALL of each collector's schema; the view
list is rebuilt when a collector joins.

File and network access from SQL is switched off after the ATTACH, as in
single-node mode, except for the lake's own data directory (DuckLake reads its
Parquet files through the same gate): ``read_csv`` on any other path fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from collector.lake.connect import LakeError, lake_connection
from collector.lake.layout import OWNED_TABLES, SHARED_TABLES, collector_schemas
from collector.query_snapshot import without_indexes
from collector.schema_costs import COSTS_AND_ANNOTATIONS_DDL

__all__ = ["LakeReader"]

T = TypeVar("T")
_ALIAS = "lake"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class LakeReader:
    """Read-only cursors over the lake; the views follow new collectors."""

    def __init__(
        self,
        catalog_dsn: str,
        data_path: Path | str,
        *,
        memory_limit_mb: int = 256,
        refresh_every_s: float = 2.0,
        spill_dir: Path | None = None,
    ) -> None:
        self._con = lake_connection(memory_limit_mb)
        if spill_dir is not None:
            # An in-memory connection has nowhere to spill: without this, a
            # query over a large lake past the memory limit fails instead.
            self._con.execute("SET temp_directory = ?", [str(spill_dir)])
        data = str(data_path)
        if "://" not in data and not data.endswith("/"):
            data += "/"
        try:
            self._con.execute(
                f"ATTACH {_quote('ducklake:postgres:' + catalog_dsn)} AS {_ALIAS} "
                f"(DATA_PATH {_quote(data)}, READ_ONLY)"
            )
        except duckdb.Error as exc:
            raise LakeError(f"cannot attach the lake read-only: {exc}") from None
        if "://" not in data:
            # DuckLake reads its Parquet files through the same file system
            # that the switch below closes: leave the lake's own directory open.
            self._con.execute("SET allowed_directories = [?]", [data])
        self._con.execute("SET enable_external_access = false")
        self._schemas: list[str] = []
        self._members: dict[str, list[str]] = {}
        self._refresh_every_s = refresh_every_s
        self._next_refresh = 0.0
        self._lock = threading.Lock()
        # CPU of API reads on the calling threads (time.thread_time), for /healthz:
        # reads over the lake cost far more than over a local file.
        self.reads = 0
        self.read_cpu_s = 0.0
        self.refresh()

    def refresh(self) -> list[str]:
        """Rebuild the views if the collector schemas, or which of their tables hold
        rows, changed; return the schemas."""
        with self._lock:
            schemas = collector_schemas(self._con, _ALIAS)
            members = _union_members(self._con, schemas) if schemas else {}
            if schemas and (schemas != self._schemas or members != self._members):
                for table in OWNED_TABLES:
                    union = " UNION ALL BY NAME ".join(f"({part})" for part in members[table])
                    if table == "model_prices":
                        # Every collector prices the models it saw: one row per model.
                        union = (
                            f"SELECT * FROM ({union}) QUALIFY row_number() OVER "
                            "(PARTITION BY model, provider ORDER BY priced_at DESC) = 1"
                        )
                    self._con.execute(f"CREATE OR REPLACE VIEW memory.main.{table} AS {union}")
                for table in SHARED_TABLES:
                    self._con.execute(
                        f"CREATE OR REPLACE VIEW memory.main.{table} AS "
                        f"SELECT * FROM {_ALIAS}.main.{table}"
                    )
                # The hash chain stays in each collector's file; /sql's sandbox
                # (collector/sql_sandbox.py) asks for it to copy only new spans,
                # and without links it copies the tables whole.
                self._con.execute(
                    "CREATE OR REPLACE VIEW memory.main.span_chain AS SELECT "
                    "NULL::BIGINT AS seq, NULL::VARCHAR AS trace_id, "
                    "NULL::VARCHAR AS span_id, NULL::BLOB AS hash WHERE false"
                )
                # The cost views of single-node mode, over the views above.
                for statement in COSTS_AND_ANNOTATIONS_DDL.split(";"):
                    if statement.strip().startswith("CREATE OR REPLACE VIEW"):
                        self._con.execute(statement.replace("VIEW ", "VIEW memory.main.", 1))
                self._schemas = schemas
                self._members = members
            self._next_refresh = time.monotonic() + self._refresh_every_s
            return schemas

    @property
    def schemas(self) -> list[str]:
        return list(self._schemas)

    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Call ``fn`` with a fresh cursor that sees the lake's latest snapshot."""
        if time.monotonic() >= self._next_refresh:
            self.refresh()
        if not self._schemas:
            raise LakeError("the lake holds no collector's tables yet")
        cursor = self._con.cursor()
        cpu_start = time.thread_time()
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            with without_indexes():
                return fn(cursor)
        finally:
            cursor.close()
            with self._lock:
                self.reads += 1
                self.read_cpu_s += time.thread_time() - cpu_start

    def close(self) -> None:
        self._con.close()


def _union_members(con: duckdb.DuckDBPyConnection, schemas: list[str]) -> dict[str, list[str]]:
    """For each view, what it unions: ``SELECT`` of each collector schema's table, the
    empty ones with ``WHERE false``.

    Every table in a view costs each query over it its own catalog reads, and an
    empty one the most: DuckLake has no statistics to cache for it, and reads
    them again for every column (25 PostgreSQL statements for an empty
    ``cancel_requests``, 3 with ``WHERE false``, which keeps its columns in the
    view). A collector that shipped nothing yet, and tables nobody writes, made
    a run page over a million runs 3x slower. A table whose rows were all
    deleted still counts as holding rows (the statistics keep its row count),
    as do rows inlined in the catalog.
    """
    sizes = {
        (str(schema), str(table)): int(size or 0)
        for schema, table, size in con.execute(
            "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
            "WHERE database_name = ?",
            [_ALIAS],
        ).fetchall()
    }
    members: dict[str, list[str]] = {}
    for table in OWNED_TABLES:
        present = [s for s in schemas if (s, table) in sizes] or schemas[:1]
        members[table] = [
            f"SELECT * FROM {_ALIAS}.{schema}.{table}"
            + ("" if sizes.get((schema, table), 0) > 0 else " WHERE false")
            for schema in present
        ]
    return members
