"""Writing one shipping batch into the lake, exactly once.

One lake transaction holds the rows and the new watermark (``ship_marks``:
chain seq and link hash), so a crash before the commit ships the same batch
again and a crash after it never ships it twice. Rows that change are replaced
by key in this collector's own lake schema (collector/lake/layout.py), so
collectors never conflict with each other.
"""

from __future__ import annotations

import logging

import duckdb

from collector.lake.layout import SMALL_TABLES
from collector.lake.ship_batch import ShipBatch, Watermarks

__all__ = ["write_batch"]

logger = logging.getLogger(__name__)


def write_batch(
    lake: duckdb.DuckDBPyConnection,
    alias: str,
    schema: str,
    columns: dict[str, list[str]],
    batch: ShipBatch,
    shipped: Watermarks,
) -> None:
    """Write ``batch`` into the lake in one transaction, with the watermark it moves to."""
    own = f"{alias}.{schema}"

    def append(target: str, name: str) -> None:
        cols = ", ".join(f'"{c}"' for c in columns[name])
        lake.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM _ship_{name}")

    lake.execute("BEGIN")
    try:
        for name, table in batch.tables.items():
            lake.register(f"_ship_{name}", table)
        append(f"{alias}.main.spans", "spans")
        run_ids = batch.tables["agent_runs"].column("id").to_pylist()
        # Replace by key. The time bounds let DuckLake skip old files by their
        # min/max statistics instead of scanning the whole table; they match
        # the bounds the rows were selected with, so what is replaced is
        # exactly what was read.
        if run_ids:
            lake.execute(
                f"DELETE FROM {own}.agent_runs WHERE id IN (SELECT unnest(?)) "
                "AND (started_at IS NULL OR started_at >= ?)",
                [run_ids, batch.runs_floor],
            )
            append(f"{own}.agent_runs", "agent_runs")
        if batch.traces:
            lake.execute(
                f"DELETE FROM {own}.agent_steps WHERE started_at >= ? "
                "AND trace_id IN (SELECT unnest(?))",
                [batch.started_floor, batch.traces],
            )
            append(f"{own}.agent_steps", "agent_steps")
        for table, (_, key) in SMALL_TABLES.items():
            if batch.tables[table].num_rows:
                match = " AND ".join(f"t.{k} = n.{k}" for k in key)
                lake.execute(
                    f"DELETE FROM {own}.{table} t WHERE EXISTS "
                    f"(SELECT 1 FROM _ship_{table} n WHERE {match})"
                )
                append(f"{own}.{table}", table)
        if batch.seq != shipped.seq or batch.updated_mark != shipped.since:
            lake.execute(f"DELETE FROM {own}.ship_marks")
            lake.execute(
                f"INSERT INTO {own}.ship_marks VALUES (?, ?, ?)",
                [batch.seq, batch.hash, batch.updated_mark],
            )
        lake.execute("COMMIT")
    except BaseException:
        try:
            lake.execute("ROLLBACK")
        except duckdb.Error:
            logger.exception("lake rollback failed")
        raise
    finally:
        for name in batch.tables:
            lake.unregister(f"_ship_{name}")
