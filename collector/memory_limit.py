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

__all__ = ["MemoryLimit"]

logger = logging.getLogger(__name__)


class MemoryLimit:
    """The database's ``memory_limit`` in MB and how far it may be raised."""

    def __init__(self, con: duckdb.DuckDBPyConnection, limit_mb: int, ceiling_mb: int) -> None:
        self._con = con
        self._lock = threading.Lock()
        self.limit_mb = limit_mb
        self.ceiling_mb = max(limit_mb, ceiling_mb)

    def grow(self, seen_mb: int, doing: str) -> bool:
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
            "DuckDB ran out of memory at %d MB while %s; its limit is now %d MB "
            "(start there with AGENT_AUDIT_DB_MEMORY_MB=%d; "
            "ceiling AGENT_AUDIT_DB_MEMORY_MAX_MB=%d)",
            limit,
            doing,
            grown,
            grown,
            self.ceiling_mb,
        )
        return True
