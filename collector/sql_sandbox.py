"""Run ``/sql`` queries in a worker process, so no query can take ingest down.

Why a process: DuckDB can end a process (an abort on a failed assertion, a
crash), hang where an interrupt is not checked, or report an INTERNAL error
after which it invalidates the whole database instance. A second connection
or a second database instance in the collector contains none of the first
two, so user queries run in :mod:`collector.sql_worker`, which owns a private
copy of the documented tables. (DuckDB lets no other process open the
collector's file while the collector writes it, not even read-only.)

The copy is refreshed before a query when a cheap fingerprint (counts and
high-water marks) shows a documented table changed (:mod:`collector.sql_copy`
sends only what changed). Refreshes run on a thread of their own: a query
waits for one at most ``copy_wait_s``, then is answered 503 with the
progress ("the /sql copy of the tables is being built: 42% done") and a
Retry-After, while the copy goes on being built. The first copy of a large
store takes minutes (every row travels); later ones take what changed. A new
worker takes over the copy an earlier one left, after a crash or across a
restart, when it can be trusted (:mod:`collector.sql_saved_copy`). Copies and
worker folders live in one folder that each start sweeps of what is stale
(:mod:`collector.sql_workspace`).

A worker that dies, overruns its time limit by more than a grace period, or
reports a fatal DuckDB error is killed and replaced; the request gets an
error, ingest never notices.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
import uuid
from typing import Any

from collector.query_sql import SqlFailed, SqlTimeout
from collector.sql_copy import CopyProgress, fingerprint, send_tables
from collector.sql_guard import CheckedSql
from collector.sql_saved_copy import CopyState, SavedCopy, chain_hash_at
from collector.sql_worker_process import SandboxLimits, WorkerProcess, death_message
from collector.sql_workspace import HeldFolder, SqlWorkspace, Swept
from collector.store import RunStore

__all__ = ["SandboxLimits", "SqlSandbox", "SandboxUnavailable", "CopyInProgress"]

logger = logging.getLogger(__name__)

_LOAD_ANSWER_S = 90.0  # after the last batch, the worker's final commit
_REFRESH_WAIT_S = 60.0  # a query waits this long for a refresh of what changed
_KEEP_S = 7 * 86400.0  # AGENT_AUDIT_SQL_COPY_KEEP_DAYS' default


class SandboxUnavailable(SqlFailed):
    """The worker could not be started or lost while answering."""

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CopyInProgress(SandboxUnavailable):
    """The worker's copy is still being built or refreshed; the query may be retried."""

    def __init__(self, progress: CopyProgress) -> None:
        left = progress.seconds_left()
        retry = 5 if left is None else int(min(60.0, max(1.0, left)))
        guess = "" if left is None else f"; about {left:.0f} s left"
        super().__init__(f"{progress.describe()}{guess}; retry shortly", retry_after_s=retry)
        self.progress = progress


class _Refresh:
    """One refresh of the copy, run on its own thread."""

    def __init__(self, whole: bool) -> None:
        self.progress = CopyProgress(whole=whole)
        self.done = threading.Event()
        self.error: SandboxUnavailable | None = None


class SqlSandbox:
    """Owns the query worker; one query or refresh at a time goes through it."""

    def __init__(
        self,
        store: RunStore,
        limits: SandboxLimits | None = None,
        workspace: SqlWorkspace | None = None,
    ) -> None:
        """Claim the store's kept copy in ``workspace`` (default
        ``$TMPDIR/agent-audit-sql.<uid>``), then sweep it of stale folders.

        Raises WorkspaceError when that folder is not this user's and private.
        """
        self._store = store
        self.limits = limits or SandboxLimits()
        self._lock = threading.Lock()  # held by whoever talks to the worker
        self._state = threading.Lock()  # guards _worker, _refresh and _closed
        self._worker: WorkerProcess | None = None
        self._refresh: _Refresh | None = None
        self._fingerprint: tuple[Any, ...] | None = None  # the data the copy was made from
        self._closed = False
        self.workspace = workspace or SqlWorkspace(SqlWorkspace.default_root(), keep_s=_KEEP_S)
        self.workspace.prepare()
        db_path = getattr(store, "db_path", None)
        # Held (locked) until close, so no other collector's sweep removes it.
        self._held_copy: HeldFolder | None = None
        self._saved: SavedCopy | None = None
        if db_path and str(db_path) != ":memory:":
            self._held_copy = self.workspace.claim_copy(db_path)
            self._saved = SavedCopy(self._held_copy.path)
        try:
            self.swept = self.workspace.sweep()
        except OSError as exc:  # a folder that cannot be listed costs disk, not the start
            logger.warning("could not sweep %s of stale /sql folders: %s", self.workspace.root, exc)
            self.swept = Swept(0, 0)
        # What the last complete sync left in the worker's file: a new worker (after
        # a crash, or at the next start through the saved state) takes it over.
        self._last_copy: CopyState | None = self._saved.take() if self._saved else None
        self.resumed = 0  # workers that took over a copy rather than building one
        self.restarts = 0
        self.last_refresh: dict[str, int] = {}  # rows sent per table by the last refresh

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id, once started (for operators and tests)."""
        worker = self._worker
        return worker.pid if worker is not None else None

    def progress(self) -> CopyProgress | None:
        """The refresh under way, if any."""
        refresh = self._refresh
        return refresh.progress if refresh is not None else None

    def start_copy(self) -> None:
        """Start the worker and its copy now, in the background (no query waits)."""
        self._wanted_refresh(self._store.generation)

    def run(
        self, checked: CheckedSql, *, max_rows: int, timeout_s: float, queue_s: float = 30.0
    ) -> dict[str, Any]:
        """Run ``checked`` in the worker; the API's result body, or SqlTimeout / SqlFailed.

        Raises CopyInProgress while the first copy is built for longer than
        ``copy_wait_s`` (or a refresh of what changed takes over a minute).
        """
        self._await_copy(self._store.generation)
        if not self._lock.acquire(timeout=queue_s):
            raise SandboxUnavailable("the query worker is busy; retry shortly")
        try:
            worker = self._worker
            if worker is None or not worker.alive():
                raise SandboxUnavailable("the query worker stopped; retry shortly")
            request = {
                "sql": checked.sql,
                "statement_type": checked.statement_type,
                "max_rows": max_rows,
                "max_bytes": self.limits.max_bytes,
                "timeout_s": timeout_s,
            }
            try:
                worker.conn.send(("query", request))
            except (OSError, ValueError):
                # It died after the check above (its socket closed first): a 503, not a 500.
                raise self._lost(worker, death_message(worker.exit_code())) from None
            answer = self._answer(worker, timeout_s + self.limits.grace_s, timeout_s)
            spent = answer.get("spent")
            if spent:
                # The worker exits after this answer; the next query starts another,
                # which takes over the copy on disk (collector/sql_worker_memory.py).
                logger.info("query worker %d replaced after a query: %s", worker.pid, spent)
                self._discard(worker)
            if answer.get("ok"):
                result = answer.get("result")
                if not isinstance(result, dict):
                    raise self._lost(worker, "the query worker sent a malformed result")
                return result
            if answer.get("fatal") and not spent:
                self._discard(worker)
            message = str(answer.get("message") or "query failed")
            if answer.get("kind") == "timeout":
                raise SqlTimeout(timeout_s)
            raise SqlFailed(message)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the worker (and a refresh under way), keep what its copy holds for the
        next start; later queries are refused."""
        with self._state:
            self._closed = True
            worker = self._worker
        idle = self._lock.acquire(timeout=0)
        if not idle:
            if worker is not None and worker.alive():
                worker.process.kill()  # a refresh or query using it ends on the closed socket
            idle = self._lock.acquire(timeout=30)
        try:
            if worker is not None:
                if worker.alive():
                    worker.conn.close()  # the worker closes its file and exits
                    with contextlib.suppress(subprocess.TimeoutExpired):  # then killed below
                        worker.process.wait(30)
                worker.kill()  # reaps it and removes its scratch files
            self._worker = None
            if self._saved is not None and self._last_copy is not None:
                try:
                    self._saved.save(self._last_copy)
                except OSError:
                    logger.exception("could not keep the /sql copy's state for the next start")
            if self._held_copy is not None:
                self._held_copy.touch()  # its age counts from this last use
                self._held_copy.release()
                self._held_copy = None
        finally:
            if idle:
                self._lock.release()

    # --- internals -------------------------------------------------------------
    def _await_copy(self, generation: int) -> None:
        """Return once the copy holds at least ``generation``; CopyInProgress when that
        takes longer than ``copy_wait_s``."""
        started = time.monotonic()
        while True:
            refresh = self._wanted_refresh(generation)
            if refresh is None:
                return
            # Only the first copy answers "retry" after copy_wait_s: a refresh of what
            # changed is waited for, or steady ingest would keep every query at 503.
            wait = self.limits.copy_wait_s
            if not refresh.progress.whole:
                wait = max(wait, _REFRESH_WAIT_S)
            if not refresh.done.wait(max(0.0, started + wait - time.monotonic())):
                raise CopyInProgress(refresh.progress)
            if refresh.error is not None:
                raise refresh.error

    def _wanted_refresh(self, generation: int) -> _Refresh | None:
        """The refresh the copy needs to hold ``generation`` (started if none runs),
        or None when it already does."""
        with self._state:
            if self._closed:
                raise SandboxUnavailable("the collector is shutting down")
            if self._refresh is not None:
                return self._refresh
            worker = self._worker
            fresh = worker is not None and worker.alive() and worker.generation is not None
            if fresh and worker is not None and (worker.generation or 0) >= generation:
                return None
            refresh = _Refresh(whole=not fresh)
            self._refresh = refresh
        threading.Thread(
            target=self._run_refresh, args=(refresh,), name="sql-copy", daemon=True
        ).start()
        return refresh

    def _run_refresh(self, refresh: _Refresh) -> None:
        try:
            with self._lock:
                self._refresh_copy(refresh)
        except SandboxUnavailable as exc:
            refresh.error = exc
        except Exception as exc:  # noqa: BLE001 - thread boundary: the waiting query reports it
            logger.exception("refreshing the query worker's copy failed")
            refresh.error = SandboxUnavailable(f"the /sql copy could not be refreshed: {exc}")
        finally:
            with self._state:
                self._refresh = None
            refresh.done.set()

    def _refresh_copy(self, refresh: _Refresh) -> None:
        worker = self._worker
        if worker is None or not worker.alive():
            if worker is not None:
                self._discard(worker)
            with self._state:
                if self._closed:
                    raise SandboxUnavailable("the collector is shutting down")
                worker = self._start_worker()
                self._worker = worker
            if self._last_copy is not None:
                self._take_over(worker, self._last_copy, refresh)
        generation = self._store.generation
        # Housekeeping commits often change nothing a query can see: compare a
        # cheap fingerprint before paying for a new copy.
        now = self._store.read(fingerprint)
        if worker.generation is None or now != self._fingerprint:
            self._copy(worker, generation, refresh.progress)
            self._fingerprint = now
        worker.generation = generation

    def _start_worker(self) -> WorkerProcess:
        """A worker on the kept copy's folder, or on a folder of its own (no file)."""
        own: HeldFolder | None = None
        try:
            if self._saved is not None:
                return WorkerProcess(self.limits, self._saved.directory)
            own = self.workspace.new_worker_folder()
            return WorkerProcess(self.limits, own.path, own)
        except OSError as exc:
            if own is not None:
                with contextlib.suppress(OSError):  # else the next start's sweep removes it
                    own.remove()
            raise SandboxUnavailable(f"cannot start the query worker: {exc}") from None

    def _take_over(self, worker: WorkerProcess, state: CopyState, refresh: _Refresh) -> None:
        """Let ``worker`` refresh the copy an earlier one left, if it is that copy and the
        spans it holds are still the collector's."""
        worker.conn.send(("identify",))
        answer = self._answer(worker, _LOAD_ANSWER_S, None)
        if answer.get("copy_id") != state.copy_id:
            return
        if self._store.read(lambda cur: chain_hash_at(cur, state.spans_seq)) != state.chain_hash:
            logger.warning("the kept /sql copy does not match the hash chain; copying anew")
            return
        worker.copy_id = state.copy_id
        worker.spans_seq, worker.spans_count = state.spans_seq, state.spans_count
        worker.row_hashes = dict(state.row_hashes)
        refresh.progress.whole = False
        self.resumed += 1

    def _copy(self, worker: WorkerProcess, generation: int, progress: CopyProgress) -> None:
        started = time.monotonic()
        copy_id = uuid.uuid4().hex
        try:
            sent = self._store.read(
                lambda cur: send_tables(cur, worker, generation, progress, copy_id)
            )
        except (OSError, EOFError) as exc:
            # The worker may have said why it stopped (collector/sql_worker.py).
            message = _last_words(worker) or f"the query worker stopped while loading data: {exc}"
            raise self._lost(worker, message) from None
        except Exception as exc:
            # The worker is mid-sync and waits for rows that will not come.
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise self._lost(worker, f"the /sql copy could not be read: {first}") from None
        answer = self._answer(worker, _LOAD_ANSWER_S, None)
        if not answer.get("ok"):
            message = answer.get("message") or f"the query worker could not load data: {answer}"
            raise self._lost(worker, str(message))
        worker.spans_seq, worker.spans_count = sent.spans_seq, sent.spans_count
        worker.row_hashes = sent.row_hashes
        worker.copy_id = copy_id
        self._last_copy = CopyState(
            copy_id, sent.spans_seq, sent.spans_count, sent.chain_hash, sent.row_hashes
        )
        self.last_refresh = sent.sent
        logger.info(
            "query worker copy %s in %.0f ms (%d rows sent)",
            "built" if progress.whole else "refreshed",
            (time.monotonic() - started) * 1e3,
            sum(sent.sent.values()),
        )

    def _answer(
        self, worker: WorkerProcess, wait_s: float, timeout_s: float | None
    ) -> dict[str, Any]:
        try:
            answer = worker.receive(wait_s)
        except (EOFError, OSError, ValueError):
            raise self._lost(worker, death_message(worker.exit_code())) from None
        if answer is None:
            # Past the interrupt and the grace period: the worker is stuck.
            self._discard(worker)
            if timeout_s is not None:
                raise SqlTimeout(timeout_s)
            raise SandboxUnavailable("the query worker did not answer; it was restarted")
        return answer

    def _lost(self, worker: WorkerProcess, message: str) -> SandboxUnavailable:
        self._discard(worker)
        logger.error("query worker %d lost: %s", worker.pid, message)
        return SandboxUnavailable(message)

    def _discard(self, worker: WorkerProcess) -> None:
        try:
            worker.kill()
        except (OSError, Exception):  # noqa: BLE001 - a worker that will not die is logged
            logger.exception("could not stop query worker %d", worker.pid)
        with self._state:
            if self._worker is worker:
                self._worker = None
        self.restarts += 1


def _last_words(worker: WorkerProcess) -> str | None:
    """The message a worker that failed mid-load sent before it exited, if any."""
    try:
        answer = worker.receive(1.0)
    except (EOFError, OSError, ValueError):
        return None
    message = answer.get("message") if answer else None
    return str(message) if message else None
