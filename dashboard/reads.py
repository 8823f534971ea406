"""Reads of the REST API shared by every browser session: concurrent, briefly cached.

At 100k runs most API answers take 50-400 ms, and a page needs several. Two
things keep a page's first paint short:

- **concurrency**: a page starts the reads it will need (``prefetch``) before it
  waits for the first one, so their times overlap instead of adding up;
- **a short shared cache**: an answer is reused for a few seconds (never longer
  than the live refresh interval for lists, longer for a finished run, which no
  longer changes), so a rerun (a click, a filter) or a second viewer does not
  ask again. Concurrent askers of the same key share one request in flight.

A write through the dashboard (annotation, cancel) empties the cache, so the
next read shows it. Values are the client's own records; callers must not
mutate them (they are shared between sessions).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Reads", "shared_reads"]

T = TypeVar("T")

MAX_ENTRIES = 512
WORKERS = 8  # the API's own pool is bigger; this bounds one dashboard's parallel reads


@dataclass
class _Entry:
    future: Future[Any]
    started: float
    ttl_for: Callable[[Any], float]
    stale_ok_s: float = 0.0
    fallback: tuple[Any] | None = None  # the answer it replaces, served while it is read


class Reads:
    """A single-flight TTL cache of API reads, run on a small thread pool."""

    def __init__(self, workers: int = WORKERS, max_entries: int = MAX_ENTRIES) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="api-read")
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def _fresh(self, entry: _Entry, now: float) -> bool:
        if not entry.future.done():
            return True  # in flight: join it
        if entry.future.exception() is not None:
            return False  # an error is never reused
        return now - entry.started < entry.ttl_for(entry.future.result())

    def _usable_stale(self, entry: _Entry | None, now: float) -> tuple[Any] | None:
        # A good answer past its TTL but within the stale window, to serve while a new
        # one is read.
        if entry is None or not entry.stale_ok_s or not entry.future.done():
            return entry.fallback if entry is not None else None
        if entry.future.exception() is not None:
            return None
        value = entry.future.result()
        if now - entry.started < entry.ttl_for(value) + entry.stale_ok_s:
            return (value,)
        return None

    def _entry(
        self,
        key: Hashable,
        fetch: Callable[[], Any],
        ttl_for: Callable[[Any], float],
        stale_ok_s: float = 0.0,
    ) -> _Entry:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._fresh(entry, now):
                self._entries.move_to_end(key)
                return entry
            fallback = self._usable_stale(entry, now) if stale_ok_s else None
            entry = _Entry(self._pool.submit(fetch), now, ttl_for, stale_ok_s, fallback)
            self._entries[key] = entry
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
            return entry

    def prefetch(
        self, key: Hashable, fetch: Callable[[], Any], ttl_s: float | Callable[[Any], float]
    ) -> None:
        """Start reading ``key`` in the background unless a fresh answer is at hand."""
        self._entry(key, fetch, _ttl_function(ttl_s))

    def get(
        self,
        key: Hashable,
        fetch: Callable[[], T],
        ttl_s: float | Callable[[T], float],
        *,
        stale_ok_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> T:
        """The answer for ``key``: cached, in flight, or fetched now; errors propagate.

        With ``stale_ok_s``, an answer up to that much past its TTL is returned at
        once while a fresh one is read in the background (for slow-changing lists
        such as the filter boxes' choices).
        """
        entry = self._entry(key, fetch, _ttl_function(ttl_s), stale_ok_s)
        if entry.fallback is not None and not entry.future.done():
            stale: T = entry.fallback[0]
            return stale
        result: T = entry.future.result(timeout_s)
        return result

    def forget_all(self) -> None:
        """Drop every cached answer (after a write, so the next read sees it)."""
        with self._lock:
            self._entries.clear()


def _ttl_function(ttl_s: float | Callable[[Any], float]) -> Callable[[Any], float]:
    if callable(ttl_s):
        return ttl_s
    constant = float(ttl_s)
    return lambda _value: constant


_SHARED: Reads | None = None
_SHARED_LOCK = threading.Lock()


def shared_reads() -> Reads:
    """The one ``Reads`` of this dashboard process."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Reads()
        return _SHARED
