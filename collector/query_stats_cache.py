"""Stats answers kept per filter and data version, so a dashboard's poll costs a lookup.

At 1M runs one stats answer reads every run and every tool step (hundreds of
ms). An answer is kept with the *data version* it was computed at: the newest
``agent_runs.updated_at`` (the writer bumps it whenever a run or any of its
steps changes, and when a run is marked lost), the number of runs (retention
deletes without bumping anything) and, when the filter names an annotation, the
number and newest time of annotations.

- Same version: the kept answer is returned; it is exact.
- New version: computed again, now; except on a big database (at least
  ``STALE_FROM_RUNS`` runs, where an answer costs hundreds of ms) while the
  kept answer is under ``MAX_STALE_S`` old: that answer is returned. So while
  runs keep arriving, a dashboard polling a big database pays one computation
  every ``MAX_STALE_S`` and sees figures at most that old (plus one
  computation); a small database is always answered exactly.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import duckdb

__all__ = ["StatsCache", "data_version", "database_key"]

Compute = Callable[[duckdb.DuckDBPyConnection], dict[str, Any]]

STALE_FROM_RUNS = 100_000
MAX_STALE_S = 5.0
_ENTRIES = 64


def data_version(cursor: duckdb.DuckDBPyConnection, annotations: bool) -> tuple[Any, ...]:
    """What a stats answer depends on; it changes whenever the answer may (a few ms at 1M)."""
    from collector.query_snapshot import newest

    counted = cursor.execute("SELECT count(*) FROM agent_runs").fetchone()
    version: tuple[Any, ...] = (newest(cursor, "agent_runs", "updated_at"), *(counted or ()))
    if annotations:
        marks = cursor.execute("SELECT count(*), max(created_at) FROM annotations").fetchone()
        version += tuple(marks or ())
    return version


def database_key(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """Which database a cursor reads (two collectors in one process keep apart)."""
    row = cursor.execute(
        "SELECT database_name, path FROM duckdb_databases() "
        "WHERE database_name = current_database()"
    ).fetchone()
    return tuple(row or ())


@dataclass
class _Entry:
    version: tuple[Any, ...]
    answer: dict[str, Any]
    computed_at: float  # monotonic time the answer's snapshot was taken


class StatsCache:
    """Answers by key and data version; see the module's doc for when one is reused."""

    def __init__(
        self, *, stale_from_runs: int = STALE_FROM_RUNS, max_stale_s: float = MAX_STALE_S
    ) -> None:
        self.stale_from_runs = stale_from_runs
        self.max_stale_s = max_stale_s
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        cursor: duckdb.DuckDBPyConnection,
        key: Hashable,
        version: tuple[Any, ...],
        compute: Compute,
    ) -> dict[str, Any]:
        """The answer for ``key`` at ``version``, or a recent one (see the module's doc).

        ``compute`` runs inside the caller's snapshot on ``cursor``.
        """
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None and (
            entry.version == version
            or (
                _runs(version) >= self.stale_from_runs
                and now - entry.computed_at <= self.max_stale_s
            )
        ):
            return deepcopy(entry.answer)
        began = time.monotonic()
        answer = compute(cursor)
        with self._lock:
            self._entries[key] = _Entry(version, deepcopy(answer), began)
            self._entries.move_to_end(key)
            while len(self._entries) > _ENTRIES:
                self._entries.popitem(last=False)
        return answer

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _runs(version: tuple[Any, ...]) -> int:
    return int(version[1] or 0) if len(version) > 1 else 0
