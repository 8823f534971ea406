"""Re-derive ``agent_runs`` and ``agent_steps`` from the lossless ``spans`` table.

After a mapping fix, old runs and steps still show what the old mapping made of their
spans; replaying every stored span through the current mapping (the same replay verify
uses) and swapping the derived rows in, in one transaction, brings them up to date.
Runs the clock settled (``lost``) come back ``running`` and are settled again by the
collector's stall rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from collector.schema import migrate
from collector.verify import rederive

__all__ = ["RederiveResult", "rederive_connection", "rederive_file"]


@dataclass(frozen=True)
class RederiveResult:
    spans: int
    runs_before: int
    runs_after: int
    steps_before: int
    steps_after: int


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = con.execute(
        "SELECT (SELECT count(*) FROM agent_runs), (SELECT count(*) FROM agent_steps)"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def rederive_connection(
    con: duckdb.DuckDBPyConnection,
    on_progress: Callable[[int, int], None] | None = None,
    batch: int = 5_000,
) -> RederiveResult:
    """Replace the derived rows of an open database; ``on_progress(done, total)`` per batch."""
    total = int(con.execute("SELECT count(*) FROM span_chain").fetchall()[0][0])
    runs_before, steps_before = _counts(con)
    done = 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, total)

    mem = rederive(con, batch, tick)
    try:
        runs = mem.sql("SELECT * FROM agent_runs").to_arrow_table()
        steps = mem.sql("SELECT * FROM agent_steps").to_arrow_table()
    finally:
        mem.close()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM agent_steps")
        con.execute("DELETE FROM agent_runs")
        con.register("_runs", runs)
        con.register("_steps", steps)
        con.execute("INSERT INTO agent_runs BY NAME SELECT * FROM _runs")
        con.execute("INSERT INTO agent_steps BY NAME SELECT * FROM _steps")
        con.unregister("_runs")
        con.unregister("_steps")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    runs_after, steps_after = _counts(con)
    return RederiveResult(done, runs_before, runs_after, steps_before, steps_after)


def rederive_file(
    path: Path, on_progress: Callable[[int, int], None] | None = None
) -> RederiveResult:
    """Re-derive a database file (the collector must not have it open)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        migrate(con)
        return rederive_connection(con, on_progress)
    finally:
        con.close()
