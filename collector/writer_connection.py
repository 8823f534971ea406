"""The writer's DuckDB connection: one transaction at a time, opened again after a fatal
error (collector/db_recovery.py), and the ingest state read back from the file."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from collector.chain import load_head
from collector.commit_mark import CommitMark, LostCommits
from collector.db_recovery import ReadGate, WriterHealth, is_invalidated, reopen_database
from collector.ingest import IngestState, load_orphan_traces
from collector.memory_limit import MemoryLimit
from collector.rootless_runs import load_rootless_traces
from collector.run_links import runs_waiting_for_a_parent
from collector.store_errors import StoreOpenError, StoreUnavailable

__all__ = ["WriterConnection"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class WriterConnection:
    """The writer thread's connection to the file (a base of WriterLoop)."""

    db_path: Path
    _con: duckdb.DuckDBPyConnection
    _memory: MemoryLimit
    _mark: CommitMark
    _state: IngestState
    _state_stale: bool
    _waiting_runs_read: bool
    _generation: int
    # The connection's readers, and whether it must be opened again.
    _reads: ReadGate
    health: WriterHealth
    _open_options: tuple[int, int]  # DuckDB threads, checkpoint threshold in MB
    # (st_dev, st_ino) of the file the connection has open; None in memory.
    _file_id: tuple[int, int] | None = None

    def _transaction(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        if self._reads.lost and not self._reopen():
            raise StoreUnavailable("storage error: the database could not be opened again yet")
        self._check_same_file()
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            result = fn(con)
            self._memory.make_room(con)
            con.execute("COMMIT")
            self._generation += 1
        except BaseException as exc:
            if is_invalidated(exc):
                # Nothing more runs on this instance: the next transaction opens the
                # file again. (A COMMIT that failed this way may be durable already;
                # applying its requests again is harmless, spans being keyed.)
                logger.error("DuckDB invalidated the database (%s); it will be reopened", exc)
                self.health.failed(exc)  # before "lost": /healthz never shows one without why
                self._reads.lost = True
                raise
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                logger.exception("rollback failed")
            raise
        # Committed to a file no longer at its path is not durable: the requests
        # stay in the journal (the caller retries them once the file is back).
        self._check_same_file()
        self._mark.after_commit(con)
        return result

    def _note_file(self) -> None:
        """Remember which file the connection has open (checked by _check_same_file)."""
        if str(self.db_path) != ":memory:":
            found = os.stat(self.db_path)
            self._file_id = (found.st_dev, found.st_ino)

    def _check_same_file(self) -> None:
        """Raise StoreUnavailable, and have the file opened again, when the database
        file was removed or replaced under the collector.

        DuckDB keeps writing to the file it opened: once that file was deleted (or
        another moved over its path), commits went on into a file that vanishes at
        exit, the requests' journal entries were freed, and every span acknowledged
        since was lost for good while /healthz said "ok". One stat per transaction.
        An in-memory database has no file to lose."""
        if str(self.db_path) == ":memory:":
            return
        try:
            found = os.stat(self.db_path)
            same = (found.st_dev, found.st_ino) == self._file_id
        except OSError:
            same = False
        if same:
            return
        exc = StoreUnavailable(
            f"the database file {self.db_path} was removed or replaced while the collector "
            "ran; acknowledged requests are kept in the request journal until the file is "
            "back (restore it; the collector opens it again and checks it against "
            f"{self._mark.path.name})"
        )
        logger.error("%s", exc)
        self.health.failed(exc)
        self._reads.lost = True  # the next transaction opens the file at the path again
        raise exc

    def _reopen(self) -> bool:
        """Open the file again after a fatal error; False (logged) when it cannot be yet."""
        if not self._reads.drained():
            logger.warning("reads still run on the lost DuckDB connection; reopening later")
            return False
        threads, checkpoint_mb = self._open_options
        try:
            self._con = reopen_database(
                self.db_path,
                self._con,
                self._mark,
                memory_limit_mb=self._memory.limit_mb,
                threads=threads,
                checkpoint_mb=checkpoint_mb,
            )
        except (duckdb.Error, StoreOpenError, LostCommits, OSError) as exc:
            # HeadMismatch is a LostCommits: the trail needs a person, never an append.
            self.health.failed(exc)
            logger.error("cannot open %s again yet: %s", self.db_path, exc)
            return False
        self._note_file()
        self._memory.rebind(self._con)
        self._reads.lost = False
        self._state_stale = True  # the ingest state is read from the file before the next write
        self.health.reopens += 1
        logger.warning("opened %s again after a fatal error", self.db_path)
        return True

    def _record_mark(self) -> None:
        try:
            self._mark.record(self._state.chain_head.seq, self._state.chain_head.hash)
        except OSError:
            logger.exception("cannot write the commit mark %s", self._mark.path)

    def _runs_waiting_once(self) -> set[str]:
        """Traces of runs waiting for their parent's span, walked for once: the walk
        reads every run without a parent run and its spans' ancestors, which may not fit
        a small memory limit, and the writer must not wait on it (a run it misses is
        linked only if its trace has something else waiting)."""
        self._waiting_runs_read = True
        try:
            return runs_waiting_for_a_parent(self._con)
        except duckdb.Error:
            logger.warning("cannot look for runs waiting for their parent's span", exc_info=True)
            return set()

    def _reload_state(self) -> None:
        """What the writer remembers is derivable from the file: read it back.

        If the file cannot be read now (a full disk, say), or the connection
        is lost and cannot be opened again yet, the next commit tries again
        before writing anything.
        """
        if self._reads.lost and not self._reopen():
            self._state_stale = True
            return
        try:
            # What waits is read back from the file; the traces remembered stay too
            # (a rollback may have undone only part of a batch): an extra one costs a lookup.
            # Runs waiting for their parent's span are walked for once (0.3 s at 100k
            # runs): after that the traces remembered hold them.
            waiting = self._state.orphan_traces
            self._state.orphan_traces = load_orphan_traces(self._con, runs=False) | waiting
            if not self._waiting_runs_read:
                self._state.orphan_traces |= self._runs_waiting_once()
            self._state.rootless_traces = load_rootless_traces(self._con)
            self._state.chain_head = load_head(self._con)
        except duckdb.Error as exc:
            logger.exception("cannot reread the writer's state; will retry before the next write")
            self._state_stale = True
            if is_invalidated(exc):
                self._reads.lost = True
            return
        self._state_stale = False
        # state.foreign_llm is kept: extra entries only cost a lookup.
