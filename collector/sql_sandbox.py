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
snapshot and sent to the worker as Arrow batches, and only what changed is
sent. Spans: those past the last chain link copied. Runs and steps (updated
in place by many write paths): the rows whose content hash differs from the
one the copy was made from, plus the ids of rows gone since (see
:class:`_RowHashes`). The small tables (cancel requests, annotations, prices)
are sent whole. A worker
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
import pyarrow as pa

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
        # (id, content hash) of the runs and steps the copy holds, per table.
        self.row_hashes: dict[str, pa.Table] = {}

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
        self.last_refresh: dict[str, int] = {}  # rows sent per table by the last refresh

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
        worker.spans_seq, worker.spans_count, worker.row_hashes, sent = plan
        self.last_refresh = sent
        logger.info(
            "query worker copy refreshed in %.0f ms (%d rows sent)",
            (time.monotonic() - started) * 1e3,
            sum(sent.values()),
        )

    @staticmethod
    def _send_tables(
        cur: duckdb.DuckDBPyConnection, worker: _Worker, generation: int
    ) -> tuple[int, int, dict[str, pa.Table], dict[str, int]]:
        """Stream the tables in one snapshot; return the spans' (max seq, count) copied,
        the row hashes of the runs and steps the copy then holds, and the rows sent."""
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
            plan = [
                (table, "upsert" if table in worker.row_hashes else "replace")
                if table in _BY_ROW_HASH
                else (table, "replace")
                for table in sorted(DOCUMENTED_TABLES - {"spans"})
            ]
            plan.append(("spans", "append" if append else "replace"))
            hashes: dict[str, pa.Table] = {}
            sent: dict[str, int] = {}
            worker.conn.send(("sync", plan, generation))
            for table, mode in plan:
                if table in _BY_ROW_HASH:
                    diff = _RowHashes(cur, table, worker.row_hashes.get(table))
                    hashes[table] = diff.now
                    if mode == "upsert":
                        # The copy drops these ids, then takes the changed rows anew.
                        worker.conn.send(("drop", diff.stale_ids()))
                    reader = diff.rows(whole=mode == "replace")
                elif table == "spans" and mode == "append":
                    result = cur.execute(f"SELECT s.* {new_spans}", [worker.spans_seq])
                    reader = result.to_arrow_reader(_BATCH_ROWS)
                else:
                    reader = cur.execute(f'SELECT * FROM "{table}"').to_arrow_reader(_BATCH_ROWS)
                # The empty table first: it creates the columns even when no row follows.
                worker.conn.send(("rows", reader.schema.empty_table()))
                sent[table] = 0
                for batch in reader:
                    worker.conn.send(("rows", batch))
                    sent[table] += batch.num_rows
                worker.conn.send(("end",))
        finally:
            cur.execute("ROLLBACK")
        return max_seq, total, hashes, sent

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


# Updated in place by many write paths (ingest, adoption of rootless runs, lost
# runs, re-derivation, retention): a changed row is found by its content hash,
# not by trusting any one column to move.
_BY_ROW_HASH = frozenset({"agent_runs", "agent_steps"})


class _RowHashes:
    """Which rows of a table differ from the copy's: (id, hash of the whole row) now,
    against the same pairs when the copy was made (both in the collector's memory,
    ~50 bytes a row; the join runs in DuckDB)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, table: str, before: pa.Table | None) -> None:
        self._cur = cur
        self._table = table
        self._before = before
        self.now: pa.Table = cur.execute(
            f'SELECT id, hash(t) AS h FROM "{table}" t'
        ).to_arrow_table()

    def _changed_sql(self) -> str:
        # Rows new or different since the copy (ids of the copy's pairs in _copy_hashes).
        return (
            "SELECT n.id FROM _now_hashes n LEFT JOIN _copy_hashes c ON c.id = n.id "
            "WHERE c.h IS DISTINCT FROM n.h"
        )

    def _with_pairs(self, sql: str) -> pa.Table:
        assert self._before is not None
        self._cur.register("_now_hashes", self.now)
        self._cur.register("_copy_hashes", self._before)
        try:
            return self._cur.execute(sql).to_arrow_table()
        finally:
            self._cur.unregister("_now_hashes")
            self._cur.unregister("_copy_hashes")

    def stale_ids(self) -> pa.Table:
        """Ids the copy must drop: rows changed or gone since it was made."""
        return self._with_pairs(
            f"{self._changed_sql()} UNION ALL "
            "SELECT c.id FROM _copy_hashes c ANTI JOIN _now_hashes n ON n.id = c.id"
        )

    def rows(self, *, whole: bool) -> pa.RecordBatchReader:
        """The rows to send: all of them, or those new or changed."""
        if whole:
            return self._cur.execute(f'SELECT * FROM "{self._table}"').to_arrow_reader(_BATCH_ROWS)
        changed = self._with_pairs(self._changed_sql())
        self._cur.register("_changed_ids", changed)
        try:
            # Materialised now (only the changed rows): the registration ends here.
            rows = self._cur.execute(
                f'SELECT t.* FROM "{self._table}" t SEMI JOIN _changed_ids c ON c.id = t.id'
            ).to_arrow_table()
        finally:
            self._cur.unregister("_changed_ids")
        return pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches(_BATCH_ROWS))


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
