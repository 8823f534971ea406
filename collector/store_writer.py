"""The store's writer thread: group commit of queued requests, housekeeping.

One thread owns every write to the DuckDB connection. It takes ingest jobs
from a queue and commits many requests in one transaction. A job that came
through the request journal was acknowledged already: the writer never drops
it. Storage trouble is retried until it commits (new requests meet the queue's
bound meanwhile); a request whose data cannot be stored is kept in a
``rejected-*.json`` file beside the journal and logged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import duckdb

from collector.chain_key import ChainKey
from collector.clock_steps import ClockSteps, shift_silences
from collector.commit_mark import CommitMark
from collector.decode import SpanRecord
from collector.ingest import IngestState, ingest_batch, mark_lost_runs
from collector.journal import Journal, JournalTicket, keep_rejected
from collector.journal_codec import encode_spans
from collector.memory_limit import MemoryLimit, is_out_of_memory
from collector.retention import RetentionResult, apply_retention
from collector.store_errors import StoreRejected, StoreUnavailable, is_storage_trouble
from collector.writer_connection import WriterConnection
from instrumentation.clock import utc_now

__all__ = ["WriteResult", "WriterLoop", "SpanJob", "FnJob", "STOP"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class WriteResult:
    """What a committed (or, with the journal, durably journaled) ingest request stored."""

    spans: int


@dataclass
class SpanJob:
    spans: list[SpanRecord]
    # Without the journal the receiver waits on it; with it, the request was
    # acknowledged at the journal's sync and the ticket frees its entry.
    future: Future[WriteResult] | None = None
    ticket: JournalTicket | None = None


@dataclass
class FnJob:
    fn: Callable[[duckdb.DuckDBPyConnection], Any]
    future: Future[Any]


STOP = object()
# Group commit: a batch under this many spans waits up to _LINGER_S for more.
_LINGER_BELOW_SPANS = 500
_LINGER_S = 0.02
# Storage trouble with acknowledged requests: retry, waiting longer each time.
_RETRY_FIRST_S = 0.2
# Commits spent finding the spans of a refused request that DuckDB refuses alone:
# enough for a few bad spans among thousands (about 2 log2 n each).
_BISECT_COMMITS = 64
_RETRY_MAX_S = 5.0


class WriterLoop(WriterConnection):
    """The writer thread's half of RunStore (collector/store.py)."""

    _con: duckdb.DuckDBPyConnection
    _state: IngestState
    _state_stale: bool
    _mark: CommitMark
    _journal: Journal | None
    _queue: queue.Queue[Any]
    _room: threading.Condition
    _queued_spans: int
    _closed: bool
    _commit_max: int
    _lost_after_s: float
    _clock_steps: ClockSteps
    _retention_s: float
    _next_retention: float
    chain_key: ChainKey
    _memory: MemoryLimit
    last_retention: RetentionResult | None
    committed_spans: int
    commits: int
    conflict_retries: int
    _generation: int
    _jobs_finished: int
    rejected_after_ack: int
    apply_rate: float

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
            if first is STOP:
                self._drain_after_stop()
                return
            if isinstance(first, FnJob):
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
                if nxt is STOP:
                    stop_after = True
                    break
                if isinstance(nxt, FnJob):
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
            if isinstance(job, FnJob):
                self._run_fn(job)
            elif isinstance(job, SpanJob):
                self._commit_spans([job])

    def _commit_spans(self, batch: list[SpanJob]) -> None:
        delay_s = _RETRY_FIRST_S
        while True:
            error = self._try_commit(batch)
            if error is None:
                self.health.recovered()
                self._finish(batch)
                return
            if len(batch) > 1 and not is_storage_trouble(error):
                # One request's spans may be the cause: retry each request alone so
                # the others still commit.
                for job in batch:
                    self._commit_spans([job])
                return
            acknowledged = [job for job in batch if job.ticket is not None]
            if not acknowledged:
                self._finish(batch, error=self._answer(error, batch))
                return
            if not is_storage_trouble(error):
                error = self._apply_around_refused(batch[0], error)
                if error is None:
                    self._finish(batch)
                    return
            if self._closed:
                # Shutting down with the disk in trouble: the journal keeps these
                # requests and the next start applies them.
                logger.error("stopping with %d journaled span(s) not applied", len(batch))
                self._finish(batch, applied=False)
                return
            self.health.failed(error)
            logger.warning(
                "applying journaled requests failed (%s); retrying in %.1fs", error, delay_s
            )
            time.sleep(delay_s)  # storage trouble: nothing else to do meanwhile
            delay_s = min(_RETRY_MAX_S, delay_s * 2)

    def _apply_around_refused(self, job: SpanJob, error: Exception) -> Exception | None:
        """An acknowledged request DuckDB refuses: commit it in halves until only
        the spans refused alone are left, and keep those for a person.

        Committing a span again is harmless (spans are keyed by trace and span
        id), so storage trouble midway returns to the caller, which retries the
        whole request. Bisecting stops after ``_BISECT_COMMITS`` commits; what is
        left untried then is kept with the refused spans.
        """
        refused: list[SpanRecord] = []
        parts = [job.spans] if len(job.spans) > 1 else []
        if not parts:
            refused = list(job.spans)
        commits = 0
        while parts:
            part = parts.pop()
            if commits >= _BISECT_COMMITS:
                refused.extend(part)
                continue
            half = len(part) // 2
            for piece in (part[:half], part[half:]):
                commits += 1
                failure = self._try_commit_spans(piece)
                if failure is None:
                    continue
                if is_storage_trouble(failure):
                    return failure
                if len(piece) == 1:
                    refused.extend(piece)
                    error = failure
                else:
                    parts.append(piece)
        if refused:
            self._keep_rejected(refused, len(job.spans), error)
        return None

    def _try_commit(self, batch: list[SpanJob]) -> Exception | None:
        return self._try_commit_spans([s for job in batch for s in job.spans])

    def _try_commit_spans(self, spans: list[SpanRecord]) -> Exception | None:
        if self._state_stale:
            self._reload_state()
            if self._state_stale:
                if self._reads.lost:
                    # Keep why it cannot be opened (a removed file, lost commits) in sight.
                    return StoreUnavailable(
                        f"storage error: the database cannot be opened again yet "
                        f"({self.health.last_error})"
                    )
                return StoreUnavailable("storage error: state unreadable")
        began = time.monotonic()
        # Spans are almost always new: insert them without the conflict check first,
        # and with it when one was stored already (an exporter's retry, a replay).
        spans_new = True
        while True:
            seen_mb = self._memory.limit_mb
            try:
                self._transaction(partial(self._ingest, spans, spans_new))
                break
            except Exception as exc:  # noqa: BLE001 - thread boundary: every job gets an answer
                self._reload_state()  # the rollback undid part of what the state remembers
                if spans_new and isinstance(exc, duckdb.ConstraintException):
                    spans_new = False
                    self.conflict_retries += 1
                    continue
                if is_out_of_memory(exc) and self._grow_memory_limit(seen_mb):
                    continue
                if is_storage_trouble(exc):
                    logger.exception("writing %d spans failed", len(spans))
                return exc
        self._record_mark()
        self._note_rate(len(spans), time.monotonic() - began)
        self.committed_spans += len(spans)
        self.commits += 1
        return None

    def _ingest(
        self, spans: list[SpanRecord], spans_new: bool, con: duckdb.DuckDBPyConnection
    ) -> None:
        ingest_batch(con, spans, self._state, utc_now(), spans_new=spans_new)

    def _grow_memory_limit(self, seen_mb: int) -> bool:
        """More room for DuckDB after running out at ``seen_mb``; False at the ceiling.

        The primary-key indexes grow with the store and DuckDB keeps them within
        the limit: a limit that suited 100k runs stops ingest at a million. The
        limit grows rather than ingest stalling until a person raises it.
        """
        if self._memory.grow(seen_mb, "storing spans"):
            return True
        logger.error(
            "DuckDB is out of memory at its ceiling of %d MB "
            "(AGENT_AUDIT_DB_MEMORY_MAX_MB); acknowledged requests wait in the journal "
            "until it is raised or retention makes the store smaller",
            self._memory.limit_mb,
        )
        return False

    def _note_rate(self, spans: int, seconds: float) -> None:
        """Keep the writer's recent rate (spans a second while committing)."""
        if seconds > 0:
            rate = spans / seconds
            self.apply_rate = rate if not self.apply_rate else 0.7 * self.apply_rate + 0.3 * rate

    @staticmethod
    def _answer(error: Exception, batch: list[SpanJob]) -> Exception:
        spans = sum(len(job.spans) for job in batch)
        if is_storage_trouble(error):
            return StoreUnavailable(f"storage error: {error}")
        # The same bytes would fail again: answer "bad request", never "retry".
        logger.error("rejected a request of %d spans that cannot be stored: %s", spans, error)
        return StoreRejected(f"spans cannot be stored: {error}")

    def _keep_rejected(self, spans: list[SpanRecord], of: int, error: Exception) -> None:
        """Spans of an acknowledged request that DuckDB refuses: keep them for a
        person, never drop them."""
        assert self._journal is not None
        where = "nowhere (see the error above)"
        try:
            where = str(keep_rejected(self._journal.directory, encode_spans(spans)))
        except OSError:
            logger.exception("cannot keep a rejected request beside %s", self._journal.directory)
        self.rejected_after_ack += 1
        logger.error(
            "%d span(s) of an acknowledged request of %d cannot be stored (%s); "
            "the others are stored; those %d are kept in %s",
            len(spans),
            of,
            error,
            len(spans),
            where,
        )

    def _finish(
        self, batch: list[SpanJob], error: Exception | None = None, *, applied: bool = True
    ) -> None:
        tickets = [job.ticket for job in batch if job.ticket is not None]
        if tickets and self._journal is not None and applied:
            self._journal.release(tickets)
        with self._room:
            self._queued_spans -= sum(len(job.spans) for job in batch)
            self._jobs_finished += len(batch)
            self._room.notify_all()
        for job in batch:
            if job.future is None:
                continue
            if error is None:
                job.future.set_result(WriteResult(spans=len(job.spans)))
            else:
                job.future.set_exception(error)

    def _run_fn(self, job: FnJob) -> None:
        try:
            result = self._transaction(job.fn)
        except Exception as exc:  # noqa: BLE001 - the caller gets the exception
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _housekeeping(self) -> None:
        if self._retention_s > 0 and time.monotonic() >= self._next_retention:
            self._next_retention = time.monotonic() + min(3600.0, max(1.0, self._retention_s / 4))
            self._run_retention()
        step_s = self._clock_steps.step_s()
        if step_s:
            logger.warning("the wall clock stepped %+.1f s; silences of running runs kept", step_s)

        def mark_lost(con: duckdb.DuckDBPyConnection) -> int:
            now = utc_now()
            shift_silences(con, step_s, now)  # collector/clock_steps.py
            return mark_lost_runs(con, now, self._lost_after_s)

        try:
            lost = self._transaction(mark_lost)
        except Exception:  # noqa: BLE001 - thread boundary
            logger.exception("marking lost runs failed")
            return
        self._clock_steps.applied()
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
