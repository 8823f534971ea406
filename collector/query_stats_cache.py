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
  runs keep arriving, a dashboard polling a big database sees figures at most
  that old (plus one computation); a small database is always answered exactly.
- On a big database, when the caller can read in the background
  (``revalidate``), a kept answer up to ``REVALIDATE_S`` old is returned at once
  too, and computed again on another thread for the next call (one computation
  per key at a time): a dashboard polling stats while runs arrive never waits
  for one. Older than that, the call computes (figures an hour old are not
  shown to someone opening the page after an hour).
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
# Calls its argument (a function of a cursor, run in a read-only snapshot) on another
# thread, through the store's own reads; returns without waiting.
Revalidate = Callable[[Callable[[duckdb.DuckDBPyConnection], None]], None]
# Runs its argument through the store's reads on another thread; returns without waiting.
Background = Callable[[Callable[[duckdb.DuckDBPyConnection], None]], None]

STALE_FROM_RUNS = 100_000
MAX_STALE_S = 5.0
REVALIDATE_S = 60.0
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
        self,
        *,
        stale_from_runs: int = STALE_FROM_RUNS,
        max_stale_s: float = MAX_STALE_S,
        revalidate_s: float = REVALIDATE_S,
    ) -> None:
        self.stale_from_runs = stale_from_runs
        self.max_stale_s = max_stale_s
        self.revalidate_s = revalidate_s
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._refreshing: dict[Hashable, float] = {}  # key -> when its refresh began
        self._lock = threading.Lock()

    def recent(self, key: Hashable) -> dict[str, Any] | None:
        """The kept answer when the module's rules return it whatever the version now is.

        On a big database an answer under ``max_stale_s`` old: the caller can skip
        reading the data version (two queries; over a lake, ~60 ms each).
        """
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or _runs(entry.version) < self.stale_from_runs:
            return None
        if time.monotonic() - entry.computed_at > self.max_stale_s:
            return None
        return deepcopy(entry.answer)

    def get(
        self,
        cursor: duckdb.DuckDBPyConnection,
        key: Hashable,
        version: tuple[Any, ...],
        compute: Compute,
        *,
        revalidate: Revalidate | None = None,
        version_of: Callable[[duckdb.DuckDBPyConnection], tuple[Any, ...]] | None = None,
    ) -> dict[str, Any]:
        """The answer for ``key`` at ``version``, or a recent one (see the module's doc).

        ``compute`` runs inside the caller's snapshot on ``cursor``; in the
        background (``revalidate``) on the cursor it is given, with ``version_of``
        that cursor's data version.
        """
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None:
            age = now - entry.computed_at
            big = _runs(version) >= self.stale_from_runs
            if entry.version == version or (big and age <= self.max_stale_s):
                return deepcopy(entry.answer)
            recent = big and age <= self.revalidate_s
            if recent and revalidate is not None and version_of is not None:
                self._refresh(key, compute, revalidate, version_of)
                return deepcopy(entry.answer)
        began = time.monotonic()
        answer = compute(cursor)
        self._keep(key, version, answer, began)
        return answer

    def _keep(
        self, key: Hashable, version: tuple[Any, ...], answer: dict[str, Any], began: float
    ) -> None:
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and kept.computed_at > began:
                return  # a computation that began later has already landed
            self._entries[key] = _Entry(version, deepcopy(answer), began)
            self._entries.move_to_end(key)
            while len(self._entries) > _ENTRIES:
                self._entries.popitem(last=False)

    def _refresh(
        self,
        key: Hashable,
        compute: Compute,
        revalidate: Revalidate,
        version_of: Callable[[duckdb.DuckDBPyConnection], tuple[Any, ...]],
    ) -> None:
        """Compute ``key`` again on another thread, unless that is already under way."""
        with self._lock:
            began = self._refreshing.get(key)
            # One at a time; one that never ran its job (a failed read) expires.
            if began is not None and time.monotonic() - began <= self.revalidate_s:
                return
            self._refreshing[key] = time.monotonic()

        def again(cursor: duckdb.DuckDBPyConnection) -> None:
            try:
                began = time.monotonic()
                version = version_of(cursor)
                self._keep(key, version, compute(cursor), began)
            finally:
                with self._lock:
                    self._refreshing.pop(key, None)

        try:
            revalidate(again)
        except BaseException:
            with self._lock:
                self._refreshing.pop(key, None)
            raise

    def answer(
        self,
        cursor: duckdb.DuckDBPyConnection,
        key: tuple[Hashable, ...],
        compute: Compute,
        version_of: Callable[[duckdb.DuckDBPyConnection], tuple[Any, ...]],
        background: Background | None = None,
    ) -> dict[str, Any]:
        """The kept or computed answer for ``key`` in this cursor's database, read in one
        snapshot; with ``background`` (a way to read on another thread), a big database's
        recent answer is returned at once and computed again there."""
        from collector.query_snapshot import in_snapshot

        def revalidate(job: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
            assert background is not None
            background(lambda cur: in_snapshot(cur, lambda: job(cur)))

        def read() -> dict[str, Any]:
            full_key = (database_key(cursor), *key)
            kept = self.recent(full_key)
            if kept is not None:
                return kept
            return self.get(
                cursor,
                full_key,
                version_of(cursor),
                compute,
                revalidate=revalidate if background is not None else None,
                version_of=version_of,
            )

        return in_snapshot(cursor, read)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _runs(version: tuple[Any, ...]) -> int:
    return int(version[1] or 0) if len(version) > 1 else 0
