"""The only owner of the DuckDB file.

One writer thread takes jobs from a queue and commits many ingest requests in
one transaction (group commit); each request is acknowledged only after that
commit. Readers get their own cursor on the same database and never wait for
the writer (DuckDB's MVCC).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from collector.chain import load_head
from collector.chain_key import ChainKeyError, default_key_path, load_key
from collector.chain_keying import first_key, record_keying
from collector.commit_mark import CommitMark, LostCommits
from collector.decode import SpanRecord
from collector.errors import CollectorError
from collector.ingest import IngestState, ingest_batch, load_orphan_traces, mark_lost_runs
from collector.record_chain import chain_rows_of_older_schema
from collector.retention import RetentionResult, apply_retention
from collector.schema import SchemaTooNew, migrate
from instrumentation.clock import utc_now

__all__ = [
    "RunStore",
    "StoreError",
    "StoreOpenError",
    "StoreUnavailable",
    "StoreRejected",
    "Overloaded",
    "WriteResult",
    "utc_now",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class StoreError(CollectorError):
    """Root of the store's errors.

    StoreError
    ├── StoreOpenError     the file cannot be opened (locked, damaged, too new)
    ├── StoreRejected      not retryable: these spans cannot be stored as sent
    └── StoreUnavailable   retryable: the write did not commit
        └── Overloaded     too much queued; retry later
    """


class StoreOpenError(StoreError):
    """The database file cannot be opened; the message says why and what to do."""


class StoreUnavailable(StoreError):
    """The write was not committed; the client should retry."""


class StoreRejected(StoreError):
    """The spans could not be stored for a reason retrying will not change (bad data)."""


class Overloaded(StoreUnavailable):
    """The write queue is full."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class WriteResult:
    """What a committed ingest request stored."""

    spans: int


@dataclass
class _SpanJob:
    spans: list[SpanRecord]
    future: Future[WriteResult]


@dataclass
class _FnJob:
    fn: Callable[[duckdb.DuckDBPyConnection], Any]
    future: Future[Any]


_STOP = object()
# Group commit: a batch under this many spans waits up to _LINGER_S for more.
_LINGER_BELOW_SPANS = 500
_LINGER_S = 0.02


_STORAGE_ERRORS = (
    duckdb.IOException,
    duckdb.OutOfMemoryException,
    duckdb.TransactionException,
    duckdb.InternalException,
    duckdb.FatalException,
    duckdb.ConnectionException,
    OSError,
    MemoryError,
)


def _is_storage_trouble(exc: BaseException) -> bool:
    """Errors of the disk or the database (retryable), as opposed to errors of the data."""
    return isinstance(exc, _STORAGE_ERRORS)


def _open_error(path: Path, exc: duckdb.Error) -> StoreOpenError:
    text = str(exc)
    lowered = text.lower()
    # Match the lock message itself: a checksum error names a "block", which contains "lock".
    if isinstance(exc, duckdb.IOException) and "could not set lock" in lowered:
        return StoreOpenError(
            f"{path} is in use by another process (only one collector may open it): {text}"
        )
    if isinstance(exc, duckdb.IOException) and "corrupt" not in lowered:
        return StoreOpenError(f"cannot open {path}: {text}")
    # A damaged file or WAL: refuse, never start a fresh file over it.
    return StoreOpenError(
        f"cannot open {path}; the file or its .wal looks damaged and was left untouched: {text}"
    )


def open_database(
    path: Path, memory_limit_mb: int = 256, threads: int = 0
) -> duckdb.DuckDBPyConnection:
    """Open (or create) the file, turning DuckDB's errors into clear ones."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise StoreOpenError(f"directory {path.parent} does not exist")
    try:
        # No file or network access from SQL: /sql runs users' queries on this
        # database, and the collector itself never needs it.
        con = duckdb.connect(str(path), config={"enable_external_access": False})
    except duckdb.Error as exc:
        raise _open_error(path, exc) from None
    con.execute("SET TimeZone = 'UTC'")
    # Checkpointing every 16 MB of WAL (DuckDB's default) rewrote and fragmented
    # the file under steady ingest; a larger threshold keeps it compact and fast.
    # The collector checkpoints at shutdown.
    con.execute("SET checkpoint_threshold = '256MB'")
    # DuckDB's own default is 80% of RAM; a sidecar should stay small. Queries
    # that need more spill to disk (the temp directory beside the file).
    con.execute(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
    if threads > 0:
        # The writer's statements are small: more DuckDB threads cost more CPU
        # in hand-offs than they save, on cores the receivers need (README,
        # Performance).
        con.execute(f"SET threads = {int(threads)}")
    return con


class RunStore:
    """Owns the DuckDB connection: one writer thread, many readers."""

    def __init__(
        self,
        db_path: Path,
        *,
        max_queued_spans: int = 200_000,
        commit_max_spans: int = 20_000,
        lost_after_s: float = 300.0,
        retention_days: float = 0.0,
        startup_read_check: bool = True,
        memory_limit_mb: int = 256,
        threads: int = 0,
        chain_key_path: Path | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        key_path = chain_key_path or default_key_path(self.db_path)
        try:
            # Created only once the file opened fine and has no keyed chain yet
            # (below): a file that cannot be opened is left with nothing new beside it.
            existing_key = load_key(key_path, create=False) if key_path.exists() else None
        except ChainKeyError as exc:
            raise StoreOpenError(str(exc)) from None
        self._mark = CommitMark(self.db_path, existing_key)
        try:
            self._mark.check(self.db_path, full_read=startup_read_check)
        except LostCommits as exc:
            raise StoreOpenError(str(exc)) from None
        except duckdb.Error as exc:
            raise _open_error(self.db_path, exc) from None
        self._con = open_database(self.db_path, memory_limit_mb, threads)
        try:
            self.previous_schema_version = migrate(self._con)
        except SchemaTooNew as exc:
            self._con.close()
            raise StoreOpenError(str(exc)) from None
        try:
            self.chain_key = existing_key or first_key(self._con, key_path)
            record_keying(self._con, self.chain_key)
            chain_rows_of_older_schema(self._con, self.chain_key, self.previous_schema_version)
        except ChainKeyError as exc:
            self._con.close()
            raise StoreOpenError(str(exc)) from None
        self._mark = CommitMark(self.db_path, self.chain_key)
        self._state = IngestState(chain_key=self.chain_key)
        self._state_stale = False
        self._reload_state()
        self._max_queued = max_queued_spans
        self._commit_max = commit_max_spans
        self._lost_after_s = lost_after_s
        self._retention_s = retention_days * 86400.0
        self._next_retention = 0.0  # monotonic time of the next pass; 0 = at start
        self.last_retention: RetentionResult | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._queued_spans = 0
        self._lock = threading.Lock()
        self._closed = False
        self.committed_spans = 0
        self.clean_shutdown = True
        self.commits = 0
        # Bumped by every committed write of any kind: readers holding a copy of
        # the data (the /sql worker) compare it to know when to refresh.
        self.generation = 0
        self._writer = threading.Thread(target=self._run_writer, name="duckdb-writer", daemon=True)
        self._writer.start()

    # --- writing ---------------------------------------------------------------
    def write_spans(self, spans: Sequence[SpanRecord]) -> WriteResult:
        """Store spans; return only after they are committed. Raises StoreUnavailable."""
        if not spans:
            return WriteResult(spans=0)
        job = _SpanJob(list(spans), Future())
        with self._lock:
            if self._closed:
                raise StoreUnavailable("collector is shutting down")
            # An empty queue takes any request (its size is already bounded by
            # the request body limit), so a big request is never refused forever.
            if self._queued_spans and self._queued_spans + len(job.spans) > self._max_queued:
                raise Overloaded(f"{self._queued_spans} spans waiting to be written; retry later")
            self._queued_spans += len(job.spans)
            self._queue.put(job)
        return job.future.result()

    def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn(con)`` on the writer thread inside its own transaction."""
        job: _FnJob = _FnJob(fn, Future())
        with self._lock:
            if self._closed:
                raise StoreUnavailable("collector is shutting down")
            self._queue.put(job)
        return job.future.result()  # type: ignore[no-any-return]

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    # --- reading ---------------------------------------------------------------
    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Call ``fn`` with a fresh cursor; never call this on an event loop."""
        cursor = self._con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            return fn(cursor)
        finally:
            cursor.close()

    def read_local(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Read this collector's own file: the same as ``read`` unless reads go to a lake."""
        return RunStore.read(self, fn)

    # --- lifecycle -------------------------------------------------------------
    def close(self, timeout_s: float = 30.0) -> None:
        """Stop accepting, commit what is queued, checkpoint and close the file."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._writer.join(timeout_s)
        if self._writer.is_alive():
            logger.error("writer did not stop within %.0fs; closing anyway", timeout_s)
        try:
            self._con.execute("CHECKPOINT")
        except duckdb.Error:
            logger.exception("checkpoint at shutdown failed")
            self.clean_shutdown = False
        self._con.close()
        self._mark.close()

    # --- the writer thread -----------------------------------------------------
    def _run_writer(self) -> None:
        housekeeping_every_s = min(5.0, self._lost_after_s / 4)
        if self._retention_s > 0:
            housekeeping_every_s = min(housekeeping_every_s, max(0.25, self._retention_s / 4))
        next_housekeeping = time.monotonic() + housekeeping_every_s
        while True:
            timeout = max(0.0, next_housekeeping - time.monotonic())
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                first = None
            if time.monotonic() >= next_housekeeping:
                self._housekeeping()
                next_housekeeping = time.monotonic() + housekeeping_every_s
            if first is None:
                continue
            if first is _STOP:
                self._drain_after_stop()
                return
            if isinstance(first, _FnJob):
                self._run_fn(first)
                continue
            batch = [first]
            size = len(first.spans)
            stop_after = False
            # Small requests (one run each) are worth a short wait for company:
            # a commit costs about the same for 10 spans as for 1,000.
            linger_until = time.monotonic() + _LINGER_S if size < _LINGER_BELOW_SPANS else 0.0
            while size < self._commit_max:
                try:
                    wait = linger_until - time.monotonic()
                    if wait > 0 and size < _LINGER_BELOW_SPANS:
                        nxt = self._queue.get(timeout=wait)
                    else:
                        nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                if isinstance(nxt, _FnJob):
                    self._commit_spans(batch)
                    batch, size = [], 0
                    self._run_fn(nxt)
                    continue
                batch.append(nxt)
                size += len(nxt.spans)
            if batch:
                self._commit_spans(batch)
            if stop_after:
                self._drain_after_stop()
                return

    def _drain_after_stop(self) -> None:
        """Commit whatever was queued before close()."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(job, _FnJob):
                self._run_fn(job)
            elif isinstance(job, _SpanJob):
                self._commit_spans([job])

    def _commit_spans(self, batch: list[_SpanJob]) -> None:
        spans = [s for job in batch for s in job.spans]
        if self._state_stale:
            self._reload_state()
            if self._state_stale:
                self._finish(batch, error=StoreUnavailable("storage error: state unreadable"))
                return
        try:
            self._transaction(lambda con: ingest_batch(con, spans, self._state, utc_now()))
        except Exception as exc:  # noqa: BLE001 - thread boundary: every job gets an answer
            self._reload_state()  # the rollback undid part of what the state remembers
            if len(batch) > 1:
                # One request's spans may be the cause: retry each request alone so
                # the others still commit.
                for job in batch:
                    self._commit_spans([job])
                return
            if _is_storage_trouble(exc):
                logger.exception("writing %d spans failed; the client will retry", len(spans))
                self._finish(batch, error=StoreUnavailable(f"storage error: {exc}"))
            else:
                # The same bytes would fail again: answer "bad request", never "retry".
                logger.exception("rejected a request of %d spans that cannot be stored", len(spans))
                self._finish(batch, error=StoreRejected(f"spans cannot be stored: {exc}"))
            return
        self.committed_spans += len(spans)
        self.commits += 1
        try:
            self._mark.record(self._state.chain_head.seq, self._state.chain_head.hash)
        except OSError:
            logger.exception("cannot write the commit mark %s", self._mark.path)
        self._finish(batch)

    def _reload_state(self) -> None:
        """What the writer remembers is derivable from the file: read it back.

        If the file cannot be read now (a full disk, say), the next commit tries
        again before writing anything.
        """
        try:
            self._state.orphan_traces = load_orphan_traces(self._con)
            self._state.chain_head = load_head(self._con)
        except duckdb.Error:
            logger.exception("cannot reread the writer's state; will retry before the next write")
            self._state_stale = True
            return
        self._state_stale = False
        # state.foreign_llm is kept: extra entries only cost a lookup.

    def _finish(self, batch: list[_SpanJob], error: Exception | None = None) -> None:
        with self._lock:
            self._queued_spans -= sum(len(job.spans) for job in batch)
        for job in batch:
            if error is None:
                job.future.set_result(WriteResult(spans=len(job.spans)))
            else:
                job.future.set_exception(error)

    def _run_fn(self, job: _FnJob) -> None:
        try:
            result = self._transaction(job.fn)
        except Exception as exc:  # noqa: BLE001 - the caller gets the exception
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _transaction(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            result = fn(con)
            con.execute("COMMIT")
            self.generation += 1
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                logger.exception("rollback failed")
            raise
        self._mark.after_commit(con)
        return result

    def _housekeeping(self) -> None:
        if self._retention_s > 0 and time.monotonic() >= self._next_retention:
            self._next_retention = time.monotonic() + min(3600.0, max(1.0, self._retention_s / 4))
            self._run_retention()
        try:
            lost = self._transaction(lambda con: mark_lost_runs(con, utc_now(), self._lost_after_s))
        except Exception:  # noqa: BLE001 - thread boundary
            logger.exception("marking lost runs failed")
            return
        if lost:
            logger.info("marked %d silent run(s) as lost", lost)

    def _run_retention(self) -> None:
        now = utc_now()
        cutoff = now - timedelta(seconds=self._retention_s)
        try:
            result = self._transaction(
                lambda con: apply_retention(con, cutoff, now, self.chain_key)
            )
        except Exception:  # noqa: BLE001 - thread boundary
            logger.exception("retention pass failed")
            return
        self.last_retention = result
        if result.runs or result.spans:
            logger.info(
                "retention removed %d run(s), %d step(s), %d span(s) older than %s",
                result.runs,
                result.steps,
                result.spans,
                cutoff.isoformat(),
            )
