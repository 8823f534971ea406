"""The only owner of the DuckDB file.

An ingest request is acknowledged once its (redacted) spans are synced to the
request journal (collector/journal.py); one writer thread applies many
journaled requests to DuckDB in one transaction (collector/store_writer.py)
and frees their journal entries after that commit. At start, before any
receiver runs, what the journal still holds is applied again (idempotent: a
span is keyed by trace and span id). Readers get their own cursor on the same
database and never wait for the writer (DuckDB's MVCC).

Without a journal (an in-memory database, or ``journal=False``) a request is
acknowledged only after the commit that holds it, as before the journal.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from collector.chain_key import ChainKeyError, default_key_path, key_for_process, load_key
from collector.chain_keying import first_key, record_keying
from collector.clock_steps import ClockSteps
from collector.commit_mark import CommitMark, LostCommits
from collector.db_open import default_ceiling_mb, open_database
from collector.db_recovery import ReadGate, WriterHealth, is_invalidated
from collector.decode import SpanRecord
from collector.ingest import IngestState
from collector.journal import Journal, JournalError, journal_dir
from collector.journal_codec import encode_spans
from collector.journal_replay import replay_journal
from collector.memory_limit import MemoryLimit
from collector.record_chain import chain_rows_of_older_schema
from collector.retention import RetentionResult
from collector.schema import SchemaTooNew, migrate
from collector.store_errors import (
    Overloaded,
    StoreError,
    StoreOpenError,
    StoreRejected,
    StoreUnavailable,
    is_storage_trouble,
    open_error,
)
from collector.store_writer import STOP, FnJob, SpanJob, WriteResult, WriterLoop
from instrumentation.clock import utc_now

__all__ = [
    "RunStore",
    "StoreError",
    "StoreOpenError",
    "StoreUnavailable",
    "StoreRejected",
    "Overloaded",
    "WriteResult",
    "open_database",
    "utc_now",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

# With the journal, receivers could acknowledge faster than the writer applies.
# Past what the writer commits in PACE_S (its recent rate; at least PACE_MIN_SPANS)
# a request waits (up to _PACE_WAIT_S) for room, so that what was acknowledged
# becomes visible soon (README, Performance).
PACE_S = 0.1
PACE_MIN_SPANS = 1_000
_PACE_WAIT_S = 10.0
# A read waits at most this long for acknowledged requests to be applied.
READ_WAIT_S = 10.0


class RunStore(WriterLoop):
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
        memory_ceiling_mb: int = 0,
        threads: int = 0,
        checkpoint_mb: int = 256,
        chain_key_path: Path | None = None,
        journal: bool = True,
    ) -> None:
        self.db_path = Path(db_path)
        key_path = chain_key_path or default_key_path(self.db_path)
        try:
            # Created only once the file opened fine and has no keyed chain yet
            # (below): a file that cannot be opened is left with nothing new beside it.
            on_disk = str(db_path) != ":memory:" and key_path.exists()
            existing_key = load_key(key_path, create=False) if on_disk else None
        except ChainKeyError as exc:
            raise StoreOpenError(str(exc)) from None
        self._mark = CommitMark(self.db_path, existing_key)
        try:
            self._mark.check(self.db_path, full_read=startup_read_check)
        except LostCommits as exc:
            raise StoreOpenError(str(exc)) from None
        except duckdb.Error as exc:
            raise open_error(self.db_path, exc) from None
        self._con = open_database(self.db_path, memory_limit_mb, threads, checkpoint_mb)
        self._note_file()
        self._open_options = (threads, checkpoint_mb)
        self._reads = ReadGate()
        self.health = WriterHealth()
        self._memory = MemoryLimit(
            self._con, memory_limit_mb, memory_ceiling_mb or default_ceiling_mb()
        )
        try:
            self.previous_schema_version = migrate(self._con)
        except SchemaTooNew as exc:
            self._con.close()
            raise StoreOpenError(str(exc)) from None
        try:
            if str(db_path) == ":memory:":
                self.chain_key = key_for_process(self.db_path)
            else:
                self.chain_key = existing_key or first_key(self._con, key_path)
            record_keying(self._con, self.chain_key)
            chain_rows_of_older_schema(self._con, self.chain_key, self.previous_schema_version)
        except ChainKeyError as exc:
            self._con.close()
            raise StoreOpenError(str(exc)) from None
        self._mark = CommitMark(self.db_path, self.chain_key)
        self._state = IngestState(chain_key=self.chain_key)
        self._state_stale = False
        self._waiting_runs_read = False  # runs waiting for their parent's span, read at start
        self._reload_state()
        if str(db_path) != ":memory:":
            try:
                self._mark.create(self._state.chain_head.seq, self._state.chain_head.hash)
            except OSError as exc:
                self._con.close()
                raise StoreOpenError(
                    f"cannot write the commit mark {self._mark.path}: {exc}"
                ) from None
        self._max_queued = max_queued_spans
        self._commit_max = commit_max_spans
        self._lost_after_s = lost_after_s
        self._clock_steps = ClockSteps()
        self._retention_s = retention_days * 86400.0
        self._next_retention = 0.0  # monotonic time of the next pass; 0 = at start
        self.last_retention: RetentionResult | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._queued_spans = 0
        self._room = threading.Condition(threading.Lock())
        self._closed = False
        self.committed_spans = 0
        self.clean_shutdown = True
        self.commits = 0
        self.conflict_retries = 0  # commits tried again with the span conflict check
        self.rejected_after_ack = 0
        self.apply_rate = 0.0  # spans a second the writer commits (store_writer.py)
        # Bumped by every committed write of any kind: readers holding a copy of
        # the data (the /sql worker) compare it to know when to refresh.
        self._generation = 0
        # Span jobs put on the queue, and those the writer finished (in queue order):
        # a read waits until every request acknowledged before it is applied.
        self._jobs_queued = 0
        self._jobs_finished = 0
        self._journal: Journal | None = None
        if journal and str(db_path) != ":memory:":
            self._journal = self._open_journal()
        self._writer = threading.Thread(target=self._run_writer, name="duckdb-writer", daemon=True)
        self._writer.start()

    def _open_journal(self) -> Journal:
        """Apply what a previous life acknowledged but did not commit, then open anew."""
        directory = journal_dir(self.db_path)
        try:
            replayed = replay_journal(directory, self._replay_batch, self._commit_max)
            journal = Journal(directory)
        except (OSError, StoreError) as exc:
            self._con.close()
            raise StoreOpenError(
                f"cannot apply the request journal {directory} (left untouched): {exc}"
            ) from None
        if replayed:
            logger.info("applied %d journaled span(s) from before a stop", replayed)
        return journal

    def _replay_batch(self, spans: list[SpanRecord]) -> Exception | None:
        """Commit replayed spans; storage trouble raises (start-up stops), bad data returns."""
        error = self._try_commit([SpanJob(spans)])
        if error is not None and is_storage_trouble(error):
            raise StoreUnavailable(f"storage error: {error}")
        return error

    # --- writing ---------------------------------------------------------------
    def write_spans(self, spans: Sequence[SpanRecord]) -> WriteResult:
        """Store spans; return once they are durable. Raises StoreUnavailable.

        With the journal, durable means synced to the journal (applied to
        DuckDB shortly after); without it, committed to DuckDB.
        """
        if not spans:
            return WriteResult(spans=0)
        job = SpanJob(list(spans))
        payload = encode_spans(job.spans) if self._journal is not None else b""
        self._reserve(len(job.spans))
        if self._journal is None:
            job.future = Future()
            self._enqueue(job)
            return job.future.result()
        try:
            job.ticket = self._journal.append(payload)
        except JournalError as exc:
            self._unreserve(len(job.spans))
            logger.warning("cannot journal a request; the client will retry: %s", exc)
            raise StoreUnavailable(str(exc)) from None
        # Queued before the sync: the writer may apply it meanwhile, which is fine.
        self._enqueue(job)
        try:
            self._journal.sync(job.ticket)
        except JournalError as exc:
            # Not acknowledged; if it reaches DuckDB anyway, the retry changes nothing.
            logger.warning("cannot sync the request journal; the client will retry: %s", exc)
            raise StoreUnavailable(str(exc)) from None
        return WriteResult(spans=len(job.spans))

    def _reserve(self, spans: int) -> None:
        with self._room:
            if self._closed:
                raise StoreUnavailable("collector is shutting down")
            # An empty queue takes any request (its size is already bounded by
            # the request body limit), so a big request is never refused forever.
            if self._queued_spans and self._queued_spans + spans > self._max_queued:
                raise Overloaded(f"{self._queued_spans} spans waiting to be written; retry later")
            deadline = time.monotonic() + _PACE_WAIT_S
            while self._queued_spans and self._queued_spans + spans > self._pace_spans():
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise Overloaded(
                        f"{self._queued_spans} spans waiting to be written; retry later"
                    )
                self._room.wait(left)
            self._queued_spans += spans

    def _pace_spans(self) -> int:
        if self._journal is None:
            return self._max_queued
        return min(self._max_queued, max(PACE_MIN_SPANS, int(self.apply_rate * PACE_S)))

    def _enqueue(self, job: SpanJob) -> None:
        with self._room:
            self._queue.put(job)
            self._jobs_queued += 1

    def _unreserve(self, spans: int) -> None:
        with self._room:
            self._queued_spans -= spans
            self._room.notify_all()

    def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn(con)`` on the writer thread inside its own transaction."""
        job: FnJob = FnJob(fn, Future())
        with self._room:
            if self._closed:
                raise StoreUnavailable("collector is shutting down")
            self._queue.put(job)
        return job.future.result()  # type: ignore[no-any-return]

    def await_applied(self, timeout_s: float = READ_WAIT_S) -> bool:
        """Wait until every request acknowledged so far is in DuckDB (read your writes).

        Returns False if that took longer than ``timeout_s`` (storage trouble:
        the read then sees what is committed).
        """
        if threading.current_thread() is self._writer:
            return True
        with self._room:
            target = self._jobs_queued
            deadline = time.monotonic() + timeout_s
            while self._jobs_finished < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._writer.is_alive():
                    logger.warning(
                        "a read did not wait for %d request(s) to apply",
                        target - self._jobs_finished,
                    )
                    return False
                self._room.wait(left)
        return True

    @property
    def generation(self) -> int:
        """Bumped by every commit; read after every acknowledged request is applied."""
        self.await_applied()
        return self._generation

    @property
    def memory_limit_mb(self) -> int:
        """DuckDB's memory limit now: raised by reads and writes that ran out (see MemoryLimit)."""
        return self._memory.limit_mb

    @property
    def memory_used_mb(self) -> float:
        """DuckDB's memory in use at the last commit (buffers, indexes, unflushed rows)."""
        return self._memory.used_mb

    @property
    def memory_ceiling_mb(self) -> int:
        return self._memory.ceiling_mb

    def writer_health(self) -> dict[str, object]:
        """The writer's state for /healthz: "ok", or "retrying" with since when and why."""
        return self.health.as_dict(connection_lost=self._reads.lost)

    @property
    def queued_spans(self) -> int:
        """Spans acknowledged (or waiting) but not yet committed to DuckDB."""
        return self._queued_spans

    # --- reading ---------------------------------------------------------------
    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Call ``fn`` with a fresh cursor; never call this on an event loop.

        It sees every request acknowledged before the call (see await_applied).
        Out of memory, it raises DuckDB's limit (up to the ceiling) and calls ``fn``
        again; at the ceiling it raises StoreUnavailable (the API answers 503).
        """
        self.await_applied()
        while True:
            seen_mb = self._memory.limit_mb
            with self._reads.reading():
                try:
                    cursor = self._con.cursor()
                except duckdb.Error as exc:  # closed or invalidated: being reopened
                    raise StoreUnavailable(f"the database cannot be read now: {exc}") from exc
                try:
                    cursor.execute("SET TimeZone = 'UTC'")
                    return fn(cursor)
                except duckdb.OutOfMemoryException as exc:
                    # The indexes' loaded parts outgrew the limit: raise it, read again.
                    if not self._memory.grow(seen_mb, "reading"):
                        raise StoreUnavailable(
                            f"DuckDB is out of memory at its ceiling of {self._memory.limit_mb} "
                            "MB (AGENT_AUDIT_DB_MEMORY_MAX_MB); retry later, or raise it"
                        ) from exc
                except duckdb.Error as exc:
                    if not is_invalidated(exc):
                        raise
                    self._reads.lost = True  # the writer opens it again
                    raise StoreUnavailable(f"the database cannot be read now: {exc}") from exc
                finally:
                    cursor.close()

    def read_local(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Read this collector's own file: the same as ``read`` unless reads go to a lake."""
        return RunStore.read(self, fn)

    # --- lifecycle -------------------------------------------------------------
    def close(self, timeout_s: float = 30.0) -> None:
        """Stop accepting, commit what is queued, checkpoint and close the file."""
        with self._room:
            if self._closed:
                return
            self._closed = True
            self._room.notify_all()
            self._queue.put(STOP)
        self._writer.join(timeout_s)
        if self._writer.is_alive():
            logger.error("writer did not stop within %.0fs; closing anyway", timeout_s)
        elif self._journal is not None:
            self._journal.close()  # empties it when every entry was committed
        try:
            self._con.execute("CHECKPOINT")
        except duckdb.Error:
            logger.exception("checkpoint at shutdown failed")
            self.clean_shutdown = False
        self._con.close()
        self._mark.close()
