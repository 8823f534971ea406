"""Run ``/sql`` queries in a worker process, so no query can take ingest down.

Why a process: DuckDB can end a process (an abort on a failed assertion, a
crash), hang where an interrupt is not checked, or report an INTERNAL error
after which it invalidates the whole database instance. A second connection
or a second database instance in the collector contains none of the first
two, so user queries run in :mod:`collector.sql_worker`, which owns a private
copy of the documented tables. (DuckDB lets no other process open the
collector's file while the collector writes it, not even read-only.)

The copy is refreshed before a query when a cheap fingerprint (counts and
high-water marks) shows a documented table changed: the tables are read in one
snapshot and sent to the worker as Arrow batches, spans incrementally (only
those past the last chain link copied), the smaller tables whole. A worker
that dies, overruns its time limit by more than a grace period, or reports a
fatal DuckDB error is killed and replaced; the request gets an error, ingest
never notices.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

import duckdb

from collector.query_sql import SqlFailed, SqlTimeout
from collector.sql_allowlist import DOCUMENTED_TABLES
from collector.sql_guard import CheckedSql
from collector.store import RunStore

__all__ = ["SandboxLimits", "SqlSandbox", "SandboxUnavailable"]

logger = logging.getLogger(__name__)

_BATCH_ROWS = 8192
_START_TIMEOUT_S = 30.0


class SandboxUnavailable(SqlFailed):
    """The worker could not be started or lost while answering."""


@dataclass(frozen=True, kw_only=True)
class SandboxLimits:
    """Limits of the query worker (see the README's "Read-only SQL" section)."""

    max_bytes: int = 16 * 1024 * 1024  # JSON bytes of a result
    memory_mb: int = 512  # DuckDB memory_limit in the worker
    temp_mb: int = 1024  # spill to disk at most this much
    threads: int = 1
    address_space_mb: int = 4096  # RLIMIT_AS of the worker process; 0 = none
    grace_s: float = 5.0  # after the time limit, wait this long before killing

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class _Worker:
    """One running worker process and its end of the socket."""

    def __init__(self, limits: SandboxLimits) -> None:
        parent, child = socket.socketpair()
        env = {k: v for k, v in os.environ.items() if k in {"PATH", "PYTHONPATH", "HOME", "TZ"}}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "collector.sql_worker", str(child.fileno()), limits.to_json()],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a signal to the collector's group does not reach it
        )
        child.close()
        self.conn = Connection(parent.detach())
        self.generation: int | None = None
        self.spans_seq: int | None = None  # the last chain link whose span the copy holds
        self.spans_count: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.conn.close()

    def receive(self, timeout_s: float) -> dict[str, Any] | None:
        """The next JSON answer, or None when the time ran out."""
        if not self.conn.poll(timeout_s):
            return None
        answer = json.loads(self.conn.recv_bytes())
        if not isinstance(answer, dict):
            raise ValueError("the worker answered with something other than an object")
        return answer


class SqlSandbox:
    """Owns the query worker; one query at a time goes through it."""

    def __init__(self, store: RunStore, limits: SandboxLimits | None = None) -> None:
        self._store = store
        self.limits = limits or SandboxLimits()
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        # The store's generation and the data fingerprint the worker's copy was made at.
        self._checked_generation: int | None = None
        self._fingerprint: tuple[Any, ...] | None = None
        self._closed = False
        self.restarts = 0

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id, once started (for operators and tests)."""
        worker = self._worker
        return worker.pid if worker is not None else None

    def run(
        self, checked: CheckedSql, *, max_rows: int, timeout_s: float, queue_s: float = 30.0
    ) -> dict[str, Any]:
        """Run ``checked`` in the worker; the API's result body, or SqlTimeout / SqlFailed."""
        if not self._lock.acquire(timeout=queue_s):
            raise SandboxUnavailable("the query worker is busy; retry shortly")
        try:
            worker = self._ready_worker()
            worker.conn.send(
                (
                    "query",
                    {
                        "sql": checked.sql,
                        "statement_type": checked.statement_type,
                        "max_rows": max_rows,
                        "max_bytes": self.limits.max_bytes,
                        "timeout_s": timeout_s,
                    },
                )
            )
            answer = self._answer(worker, timeout_s + self.limits.grace_s, timeout_s)
            if answer.get("ok"):
                result = answer.get("result")
                if not isinstance(result, dict):
                    raise self._lost(worker, "the query worker sent a malformed result")
                return result
            if answer.get("fatal"):
                self._discard(worker)
            message = str(answer.get("message") or "query failed")
            if answer.get("kind") == "timeout":
                raise SqlTimeout(timeout_s)
            raise SqlFailed(message)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the worker; later queries are refused."""
        with self._lock:
            self._closed = True
            if self._worker is not None:
                self._worker.kill()
                self._worker = None

    # --- internals -------------------------------------------------------------
    def _ready_worker(self) -> _Worker:
        if self._closed:
            raise SandboxUnavailable("the collector is shutting down")
        worker = self._worker
        if worker is None or worker.process.poll() is not None:
            if worker is not None:
                self._discard(worker)
            try:
                worker = _Worker(self.limits)
            except OSError as exc:
                raise SandboxUnavailable(f"cannot start the query worker: {exc}") from None
            self._worker = worker
        generation = self._store.generation
        if worker.generation is None or generation != self._checked_generation:
            # Housekeeping commits often change nothing a query can see: compare a
            # cheap fingerprint before paying for a new copy.
            fingerprint = self._store.read(_fingerprint)
            if worker.generation is None or fingerprint != self._fingerprint:
                self._sync(worker, generation)
                self._fingerprint = fingerprint
            self._checked_generation = generation
        return worker

    def _sync(self, worker: _Worker, generation: int) -> None:
        started = time.monotonic()
        try:
            plan = self._store.read(lambda cur: self._send_tables(cur, worker, generation))
        except (OSError, EOFError) as exc:
            message = f"the query worker stopped while loading data: {exc}"
            raise self._lost(worker, message) from None
        answer = self._answer(worker, _START_TIMEOUT_S + 60.0, None)
        if not answer.get("ok"):
            raise self._lost(worker, f"the query worker could not load data: {answer}")
        worker.generation = generation
        worker.spans_seq, worker.spans_count = plan
        logger.info("query worker copy refreshed in %.0f ms", (time.monotonic() - started) * 1e3)

    @staticmethod
    def _send_tables(
        cur: duckdb.DuckDBPyConnection, worker: _Worker, generation: int
    ) -> tuple[int, int]:
        """Stream the tables in one snapshot; return the spans' (max seq, count) copied."""
        cur.execute("BEGIN TRANSACTION READ ONLY")  # one snapshot for all tables
        try:
            row = cur.execute(
                "SELECT coalesce((SELECT max(seq) FROM span_chain), 0), "
                "(SELECT count(*) FROM spans)"
            ).fetchone()
            max_seq, total = (int(row[0]), int(row[1])) if row else (0, 0)
            # Spans are only ever inserted (each with the next chain link) or removed by
            # retention: when the counts add up, only the spans past the last link copied
            # are sent; otherwise the whole table is.
            new_spans = "FROM spans s JOIN span_chain c USING (trace_id, span_id) WHERE c.seq > ?"
            append = False
            if worker.spans_seq is not None and worker.spans_count is not None:
                counted = cur.execute(f"SELECT count(*) {new_spans}", [worker.spans_seq])
                added = int((counted.fetchone() or (0,))[0])
                append = worker.spans_count + added == total
            plan = [(table, "replace") for table in sorted(DOCUMENTED_TABLES - {"spans"})]
            plan.append(("spans", "append" if append else "replace"))
            worker.conn.send(("sync", plan, generation))
            for table, mode in plan:
                if table == "spans" and mode == "append":
                    result = cur.execute(f"SELECT s.* {new_spans}", [worker.spans_seq])
                else:
                    result = cur.execute(f'SELECT * FROM "{table}"')
                reader = result.to_arrow_reader(_BATCH_ROWS)
                # The empty table first: it creates the columns even when no row follows.
                worker.conn.send(("rows", reader.schema.empty_table()))
                for batch in reader:
                    worker.conn.send(("rows", batch))
                worker.conn.send(("end",))
        finally:
            cur.execute("ROLLBACK")
        return max_seq, total

    def _answer(self, worker: _Worker, wait_s: float, timeout_s: float | None) -> dict[str, Any]:
        try:
            answer = worker.receive(wait_s)
        except (EOFError, OSError, ValueError):
            code = worker.process.poll()
            if code is None:
                try:
                    code = worker.process.wait(2)
                except subprocess.TimeoutExpired:
                    code = None
            raise self._lost(worker, _death_message(code)) from None
        if answer is None:
            # Past the interrupt and the grace period: the worker is stuck.
            self._discard(worker)
            if timeout_s is not None:
                raise SqlTimeout(timeout_s)
            raise SandboxUnavailable("the query worker did not answer; it was restarted")
        return answer

    def _lost(self, worker: _Worker, message: str) -> SandboxUnavailable:
        self._discard(worker)
        logger.error("query worker %d lost: %s", worker.pid, message)
        return SandboxUnavailable(message)

    def _discard(self, worker: _Worker) -> None:
        try:
            worker.kill()
        except (OSError, subprocess.TimeoutExpired):
            logger.exception("could not stop query worker %d", worker.pid)
        if self._worker is worker:
            self._worker = None
        self.restarts += 1


def _fingerprint(cur: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """Counts and high-water marks that change whenever a documented table does.

    Spans only ever gain chain links; runs change with ``updated_at``; steps
    change only with their run (renumbering, adoption, removal happen in the same
    transaction that updates the run) or with retention, which the counts catch.
    """
    row = cur.execute(
        "SELECT (SELECT max(seq) FROM span_chain), (SELECT count(*) FROM spans), "
        "(SELECT count(*) FROM agent_runs), (SELECT max(updated_at) FROM agent_runs), "
        "(SELECT count(*) FROM agent_steps), (SELECT count(*) FROM cancel_requests), "
        "(SELECT max(requested_at) FROM cancel_requests), (SELECT count(*) FROM annotations), "
        "(SELECT count(*) FROM model_prices), (SELECT max(priced_at) FROM model_prices)"
    ).fetchone()
    return tuple(row or ())


def _death_message(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"was ended by {name}"
    elif code is not None:
        how = f"exited with code {code}"
    else:
        how = "stopped answering"
    return (
        f"the query worker {how} while running this query; a new one will serve the next "
        "query, and ingest was not affected"
    )
