"""The ``/sql`` query worker: a separate process that runs user queries on a copy.

The collector (:mod:`collector.sql_sandbox`) starts this module as its own
process (``python -m collector.sql_worker FD``) and talks to it over one
socket. The worker owns a private DuckDB file holding only the documented
tables, copied from the collector's database whenever it changed, in a
directory the collector names, makes and removes (:mod:`collector.sql_workspace`). User queries
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

import contextlib
import json
import os
import resource
import shutil
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from collector.sql_deep_json import install_json_depth_guard, raise_stack_limit
from collector.sql_replica import Replica
from collector.sql_string_sizes import install_size_bounds
from collector.sql_worker_memory import held_memory, spent_reason

__all__ = ["main"]


def _answer(conn: Connection, message: dict[str, Any]) -> None:
    conn.send_bytes(json.dumps(message, allow_nan=False).encode())


class QueryCursor:
    """The cursor user queries run on, with the checking macros defined on it.

    Temporary macros live per connection (a cursor is one), and defining them took
    15-27 ms a query on this machine under load, so one cursor serves query after
    query. It holds nothing a query could leave behind: the query check admits no
    statement that creates or sets anything, and each query runs in a read-only
    transaction that is rolled back. After a query that failed in any way the
    cursor is closed and the next query gets a fresh one."""

    def __init__(self, replica: Replica) -> None:
        self._replica = replica
        self._cursor: Any = None

    def get(self) -> Any:
        if self._cursor is None:
            cursor = self._replica.con.cursor()
            install_json_depth_guard(cursor)
            install_size_bounds(cursor)
            self._cursor = cursor
        return self._cursor

    def discard(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            # A cursor of a connection DuckDB broke: gone either way.
            with contextlib.suppress(Exception):
                cursor.close()


def _run_query(queries: QueryCursor, message: dict[str, Any]) -> dict[str, Any]:
    answer = _answer_query(queries, message)
    if not answer["ok"]:
        queries.discard()
    return answer


def _answer_query(queries: QueryCursor, message: dict[str, Any]) -> dict[str, Any]:
    from collector.query_sql import SqlFailed, SqlTimeout, run_read_only
    from collector.sql_guard import CheckedSql

    checked = CheckedSql(message["sql"], message["statement_type"])
    try:
        result = run_read_only(
            queries.get(),
            checked,
            max_rows=int(message["max_rows"]),
            timeout_s=float(message["timeout_s"]),
            max_bytes=int(message["max_bytes"]),
        )
    except SqlTimeout as exc:
        return {"ok": False, "kind": "timeout", "message": str(exc)}
    except SqlFailed as exc:
        return {"ok": False, "kind": "failed", "message": str(exc), "fatal": exc.fatal}
    except MemoryError:
        # The address-space limit, met while Python renders the rows.
        text = "the result did not fit in the query worker's memory; select fewer or smaller values"
        return {"ok": False, "kind": "failed", "message": text, "fatal": True}
    except Exception as exc:  # noqa: BLE001 - request boundary: the query fails, not the worker
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"ok": False, "kind": "failed", "message": first, "fatal": True}
    return {"ok": True, "result": result.to_json()}


def _load_failure(workdir: Path, error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"the /sql copy in {workdir} could not be written: {lines[0] if lines else error!r}"


def _refuse_all(conn: Connection, message: str) -> int:
    """Without a database (it cannot be made: its disk full), say why to each request
    until the collector replaces this worker."""
    answer = {"ok": False, "kind": "failed", "message": message, "fatal": True}
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return 3
        if request[0] in ("sync", "identify", "query", "ping"):
            _answer(conn, answer)


def serve(conn: Connection, workdir: Path, limits: dict[str, Any]) -> int:
    """Answer the collector until it closes the socket; return the exit code."""
    try:
        replica = Replica(workdir, limits)
    except Exception as exc:  # noqa: BLE001 - process boundary: the collector is told why
        return _refuse_all(conn, _load_failure(workdir, exc))
    queries = QueryCursor(replica)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return 0  # the collector went away
        kind = message[0]
        if kind == "sync":
            _, plan, generation, copy_id = message
            try:
                replica.load(conn, plan, generation, copy_id)
            except Exception as exc:  # noqa: BLE001 - say why (its disk full), then start afresh
                _answer(
                    conn, {"ok": False, "kind": "failed", "message": _load_failure(workdir, exc)}
                )
                return 3
            _answer(conn, {"ok": True, "generation": generation})
        elif kind == "identify":
            _answer(conn, {"ok": True, "copy_id": replica.copy_id()})
        elif kind == "query":
            answer = _run_query(queries, message[1])
            spent = None if answer.get("fatal") else _spent(limits)
            if spent is not None:
                answer["spent"] = spent
            _answer(conn, answer)
            if answer.get("fatal"):
                # DuckDB invalidated this database instance: start afresh.
                return 3
            if spent is not None:
                # What DuckDB kept after the query stays until the process ends
                # (collector/sql_worker_memory.py): the collector starts a new worker.
                return 0
        elif kind == "ping":
            _answer(conn, {"ok": True, "pid": os.getpid()})
        else:
            _answer(conn, {"ok": False, "kind": "failed", "message": f"unknown request {kind!r}"})


def _spent(limits: dict[str, Any]) -> str | None:
    return spent_reason(
        held_memory(),
        memory_mb=int(limits["memory_mb"]),
        address_space_mb=int(limits["address_space_mb"]),
    )


def _limit_address_space(mb: int) -> None:
    if mb > 0:
        size = mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))


def main(argv: list[str]) -> int:
    """``python -m collector.sql_worker FD LIMITS_JSON DIRECTORY``: the copy is kept in
    DIRECTORY, which the collector made and removes (collector/sql_workspace.py)."""
    fd = int(argv[0])
    limits = json.loads(argv[1])
    _limit_address_space(int(limits["address_space_mb"]))
    raise_stack_limit()
    conn = Connection(fd)
    workdir = Path(argv[2])
    shutil.rmtree(workdir / "spill", ignore_errors=True)  # an earlier worker's spill
    return serve(conn, workdir, limits)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
