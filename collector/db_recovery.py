"""Getting the writer's DuckDB connection back after a fatal error, and saying how it is doing.

Some failures leave DuckDB's database instance unusable: an automatic
checkpoint that cannot write the file (a full disk) fails the COMMIT with
"FATAL Error" and every later statement, reads included, with "database has
been invalidated ... must be restarted". Retrying on that connection never
succeeds, even once space is back. The writer then closes it and opens the
file again (DuckDB replays its WAL), after the same read-only check of the
commit mark that start-up makes, so a reopen never appends to a trail that
lost acknowledged commits. The journal entries of the requests being applied
are kept until their commit succeeds on the new connection.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from collector.commit_mark import CommitMark
from collector.db_open import open_database
from collector.store_errors import StoreUnavailable

__all__ = ["ReadGate", "WriterHealth", "is_invalidated", "reopen_database"]

# How long a reopen waits for reads still running on the old connection.
_READS_DRAIN_S = 10.0


def is_invalidated(exc: BaseException) -> bool:
    """DuckDB's instance is unusable until it is opened again (FATAL / INTERNAL errors)."""
    if isinstance(exc, duckdb.FatalException | duckdb.InternalException):
        return True
    return isinstance(exc, duckdb.Error) and "database has been invalidated" in str(exc)


def reopen_database(
    db_path: Path,
    old: duckdb.DuckDBPyConnection,
    mark: CommitMark,
    *,
    memory_limit_mb: int,
    threads: int,
    checkpoint_mb: int,
) -> duckdb.DuckDBPyConnection:
    """Close ``old`` and open the file again; raises duckdb.Error, StoreOpenError or
    the mark's LostCommits / HeadMismatch (then the file is not opened for writing)."""
    # An invalidated instance may refuse even that; it is dropped anyway.
    with contextlib.suppress(duckdb.Error):
        old.close()
    mark.check(db_path, full_read=False)
    return open_database(db_path, memory_limit_mb, threads, checkpoint_mb)


class ReadGate:
    """Readers of the writer's connection, counted so it is never swapped under one.

    While the connection is lost a read is refused at once (the API answers 503,
    retryable); a reopen waits for reads already running to end.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._active = 0
        self.lost = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            if self.lost:
                raise StoreUnavailable(
                    "the database is being reopened after a storage error; retry later"
                )
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def drained(self, timeout_s: float = _READS_DRAIN_S) -> bool:
        """With ``lost`` set: wait until no read runs; False if one still does."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True


@dataclass
class WriterHealth:
    """How the writer is doing, for /healthz: since when it fails to commit, and why."""

    failing_since: float | None = None  # time.time() of the first failure in a row
    last_error: str = ""
    failed_attempts: int = 0
    reopens: int = 0  # the connection opened again after a fatal error

    def failed(self, error: BaseException) -> None:
        if self.failing_since is None:
            self.failing_since = time.time()
        self.failed_attempts += 1
        self.last_error = f"{type(error).__name__}: {error}"[:500]

    def recovered(self) -> None:
        self.failing_since = None
        self.failed_attempts = 0

    def as_dict(self, *, connection_lost: bool) -> dict[str, object]:
        since = self.failing_since
        state = "ok" if since is None and not connection_lost else "retrying"
        figures: dict[str, object] = {"state": state, "reopens": self.reopens}
        if state != "ok":
            figures["connection_lost"] = connection_lost
            figures["failing_for_s"] = round(time.time() - since, 1) if since else 0.0
            figures["failed_attempts"] = self.failed_attempts
            figures["last_error"] = self.last_error
        return figures
