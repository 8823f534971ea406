"""The store's exceptions, and which DuckDB errors are the disk's rather than the data's."""

from __future__ import annotations

from pathlib import Path

import duckdb

from collector.errors import CollectorError

__all__ = [
    "StoreError",
    "StoreOpenError",
    "StoreUnavailable",
    "StoreRejected",
    "Overloaded",
    "is_storage_trouble",
    "open_error",
]


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


_STORAGE_ERRORS = (
    StoreUnavailable,
    duckdb.IOException,
    duckdb.OutOfMemoryException,
    duckdb.TransactionException,
    duckdb.InternalException,
    duckdb.FatalException,
    duckdb.ConnectionException,
    OSError,
    MemoryError,
)


def is_storage_trouble(exc: BaseException) -> bool:
    """Errors of the disk or the database (retryable), as opposed to errors of the data.

    StoreUnavailable is the store's own word for it (its state unreadable, its
    connection being reopened): never a reason to set a request's spans aside."""
    return isinstance(exc, _STORAGE_ERRORS)


def open_error(path: Path, exc: duckdb.Error) -> StoreOpenError:
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
