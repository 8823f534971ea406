"""The ``/sql`` query worker: a separate process that runs user queries on a copy.

The collector (:mod:`collector.sql_sandbox`) starts this module as its own
process (``python -m collector.sql_worker FD``) and talks to it over one
socket. The worker owns a private DuckDB file holding only the documented
tables, copied from the collector's database whenever it changed. User queries
run here and nowhere else, so whatever DuckDB does with one (an abort, a
crash, a hang that ignores interrupts, an INTERNAL error that invalidates the
database instance, memory exhaustion) ends at this process; the collector
notices, answers the request with an error, and starts a new worker.

Walls in this process, after the allowlist (:mod:`collector.sql_guard`):
``enable_external_access=false`` (no file, network, or Python-object scans),
``lock_configuration=true`` once the copy is loaded (no ``SET`` can loosen
anything), DuckDB's ``memory_limit`` and a capped spill directory, an address
space limit on the whole process, an interrupt at the time limit, and row and
byte caps on the result.

Messages from the collector are pickled (it is the trusted side); answers are
JSON only, so a compromised worker cannot make the collector run code.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from collector.schema_costs import COST_VIEWS_DDL

__all__ = ["main"]


def _answer(conn: Connection, message: dict[str, Any]) -> None:
    conn.send_bytes(json.dumps(message, allow_nan=False).encode())


class _Replica:
    """The worker's DuckDB file: the documented tables, kept in step at each sync."""

    def __init__(self, workdir: Path, limits: dict[str, Any]) -> None:
        import duckdb

        self._duckdb = duckdb
        spill = workdir / "spill"
        spill.mkdir(mode=0o700, exist_ok=True)
        self.con = duckdb.connect(
            str(workdir / "replica.duckdb"),
            config={
                "enable_external_access": False,
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
                "memory_limit": f"{int(limits['memory_mb'])}MB",
                "temp_directory": str(spill),
                "max_temp_directory_size": f"{int(limits['temp_mb'])}MB",
                "threads": int(limits["threads"]),
            },
        )
        self.con.execute("SET TimeZone = 'UTC'")
        self.generation: int | None = None
        self._locked = False
        self._tables: set[str] = set()
        self._views_created = False

    def load(self, conn: Connection, plan: list[tuple[str, str]], generation: int) -> None:
        """Receive tables as Arrow batches in one transaction: ``replace`` a table,
        ``append`` to it, or ``upsert`` (drop the ids sent first, then add the rows)."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for table, mode in plan:
                created = mode in ("append", "upsert") and table in self._tables
                if mode == "upsert":
                    kind, stale = conn.recv()
                    if kind != "drop" or not created:
                        raise ValueError(f"upsert of {table} without its ids or its table")
                    con.register("stale", stale)
                    con.execute(f'DELETE FROM "{table}" WHERE id IN (SELECT id FROM stale)')
                    con.unregister("stale")
                if not created:
                    con.execute(f'DROP TABLE IF EXISTS "{table}"')
                while True:
                    message = conn.recv()
                    if message[0] == "end":
                        break
                    _, batch = message
                    con.register("incoming", batch)
                    if created:
                        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM incoming')
                    else:
                        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM incoming')
                        created = True
                    con.unregister("incoming")
                self._tables.add(table)
            if not self._views_created:
                con.execute(COST_VIEWS_DDL)
                self._views_created = True
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self.generation = generation
        if not self._locked:
            # From here on no statement can change a setting, the user's least of all.
            con.execute("SET lock_configuration = true")
            self._locked = True


def _run_query(replica: _Replica, message: dict[str, Any]) -> dict[str, Any]:
    from collector.query_sql import SqlFailed, SqlTimeout, run_read_only
    from collector.sql_guard import CheckedSql

    checked = CheckedSql(message["sql"], message["statement_type"])
    try:
        result = run_read_only(
            replica.con.cursor(),
            checked,
            max_rows=int(message["max_rows"]),
            timeout_s=float(message["timeout_s"]),
            max_bytes=int(message["max_bytes"]),
        )
    except SqlTimeout as exc:
        return {"ok": False, "kind": "timeout", "message": str(exc)}
    except SqlFailed as exc:
        return {"ok": False, "kind": "failed", "message": str(exc), "fatal": exc.fatal}
    return {"ok": True, "result": result.to_json()}


def serve(conn: Connection, workdir: Path, limits: dict[str, Any]) -> int:
    """Answer the collector until it closes the socket; return the exit code."""
    replica = _Replica(workdir, limits)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return 0  # the collector went away
        kind = message[0]
        if kind == "sync":
            _, plan, generation = message
            replica.load(conn, plan, generation)
            _answer(conn, {"ok": True, "generation": generation})
        elif kind == "query":
            answer = _run_query(replica, message[1])
            _answer(conn, answer)
            if answer.get("fatal"):
                # DuckDB invalidated this database instance: start afresh.
                return 3
        elif kind == "ping":
            _answer(conn, {"ok": True, "pid": os.getpid()})
        else:
            _answer(conn, {"ok": False, "kind": "failed", "message": f"unknown request {kind!r}"})


def _limit_address_space(mb: int) -> None:
    if mb > 0:
        size = mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))


def main(argv: list[str]) -> int:
    """``python -m collector.sql_worker FD LIMITS_JSON``."""
    fd = int(argv[0])
    limits = json.loads(argv[1])
    _limit_address_space(int(limits["address_space_mb"]))
    conn = Connection(fd)
    with tempfile.TemporaryDirectory(prefix="agent-audit-sql-") as tmp:
        return serve(conn, Path(tmp), limits)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
