"""DuckDB's memory limit, raised on demand up to a ceiling, for the writer and the readers alike.

The indexes (primary keys, ``agent_steps_run_id``) grow with the store, and
DuckDB keeps the parts it has loaded within its memory limit without evicting
them: a limit that suited 100k runs fails lookups at a million, in a read as
much as in a write. Whoever runs out first doubles the limit (it is one
setting of the database) and tries again; past the ceiling the caller gives a
clear error.
"""

from __future__ import annotations

import logging
import threading

import duckdb

__all__ = ["MemoryLimit", "is_out_of_memory"]

logger = logging.getLogger(__name__)

# The share of the limit kept free for a commit's index merge (see MemoryLimit.make_room).
_COMMIT_ROOM = 1 / 3

# Table data DuckDB lets go of by itself when it needs room: rows not yet
# checkpointed (and their long strings) are written to its temporary file,
# checkpointed blocks dropped and read again from the database file.
_DATA_TAGS = ("BASE_TABLE", "IN_MEMORY_TABLE", "OVERFLOW_STRINGS")
# All of DuckDB's memory in use, and the part it cannot let go of by itself.
_MEMORY_IN_USE = (
    "SELECT sum(memory_usage_bytes), "
    "sum(memory_usage_bytes) FILTER (WHERE tag NOT IN ("
    + ", ".join(f"'{tag}'" for tag in _DATA_TAGS)
    + ")) FROM duckdb_memory()"
)


def is_out_of_memory(exc: BaseException) -> bool:
    """DuckDB out of memory: a statement's own error, or a COMMIT that failed for it."""
    if isinstance(exc, duckdb.OutOfMemoryException):
        return True
    text = str(exc)
    return isinstance(exc, duckdb.TransactionException) and (
        "Out of Memory" in text or "failed to pin block" in text
    )


class MemoryLimit:
    """The database's ``memory_limit`` in MB and how far it may be raised."""

    def __init__(self, con: duckdb.DuckDBPyConnection, limit_mb: int, ceiling_mb: int) -> None:
        self._con = con
        self._lock = threading.Lock()
        self.limit_mb = limit_mb
        # DuckDB's own memory in use, read before the last commit (for /healthz).
        self.used_mb = 0.0
        self.ceiling_mb = max(limit_mb, ceiling_mb)

    def rebind(self, con: duckdb.DuckDBPyConnection) -> None:
        """The writer opened the database again: raise the limit on the new connection."""
        with self._lock:
            self._con = con

    def make_room(self, con: duckdb.DuckDBPyConnection) -> None:
        """Raise the limit ahead of a COMMIT that might not fit in what is left of it.

        A commit merges the transaction's index entries into the indexes, loading
        the parts of them its keys reach (40 random ids loaded ~40 MB of a 1M-run
        store's indexes). Run out of memory there and DuckDB fails the COMMIT with
        the new entries half merged: later inserts of those keys were refused as
        duplicates and a lookup of an absent key returned another row. A statement
        that runs out fails cleanly, a commit must not: the limit is doubled
        (up to the ceiling) whenever less than a third of it is left to what
        DuckDB cannot give back by itself (indexes, hash tables, metadata).

        Table data is not counted: DuckDB writes rows not yet checkpointed to its
        temporary file and drops checkpointed blocks when it needs the room, so
        a steady ingest stays within the limit instead of doubling it (measured
        under ``bench.load``: README, Performance).
        """
        row = con.execute(_MEMORY_IN_USE).fetchone()
        used_mb, held_mb = ((row[0] or 0) / 2**20, (row[1] or 0) / 2**20) if row else (0, 0)
        self.used_mb = used_mb
        limit = self.limit_mb
        if held_mb > limit * (1 - _COMMIT_ROOM):
            self.grow(limit, f"committing ({held_mb:.0f} MB held)", ran_out=False)

    def grow(self, seen_mb: int, doing: str, *, ran_out: bool = True) -> bool:
        """After an out-of-memory error met at ``seen_mb``: True when there is more room now.

        Doubles the limit up to the ceiling, unless another thread already raised
        it past ``seen_mb`` (then the caller just tries again). False at the ceiling.
        """
        with self._lock:
            limit = self.limit_mb
            if limit > seen_mb:
                return True
            if limit >= self.ceiling_mb:
                return False
            grown = min(self.ceiling_mb, limit * 2)
            try:
                self._con.execute(f"SET memory_limit = '{int(grown)}MB'")
            except duckdb.Error:
                logger.exception("could not raise DuckDB's memory limit")
                return False
            self.limit_mb = grown
        logger.warning(
            "DuckDB %s %d MB while %s; its limit is now %d MB "
            "(start there with AGENT_AUDIT_DB_MEMORY_MB=%d; "
            "ceiling AGENT_AUDIT_DB_MEMORY_MAX_MB=%d)",
            "ran out of memory at" if ran_out else "was close to its memory limit of",
            limit,
            doing,
            grown,
            grown,
            self.ceiling_mb,
        )
        return True
