"""A live full-text index of runs: task, final answer and every step's inputs and outputs.

Scanning text at 1M runs takes seconds (the steps' tool results alone are GBs),
so ``q`` made of plain words is answered from a tantivy index kept beside the
database (``<db>.search/``): one document per run holding its text and the
fields the run list filters on (status, source, agent, models, tools, start).

A thread follows ``agent_runs.updated_at`` (the writer bumps it whenever a run
or one of its steps changes) and the ``annotations`` table
(:mod:`collector.search_changes`), re-reads each changed or annotated run with
its steps and replaces the run's document, every ``interval_s`` (2 s: each index commit has
a fixed cost, paid by ingest's CPU) or at once when a query asks: a reader with
``q`` wakes it and waits until it has caught up with the reader's snapshot.
The index is derived data: deleting the directory rebuilds it from the
database, which is always the truth; until it has caught up (a first start on
a big file), queries scan as before.

Matching (:class:`TextQuery`): a ``q`` of plain words matches runs whose text
holds every word (case-insensitive, any order). Any other ``q`` (``100%``,
``bytes=123456``) keeps its meaning, a substring of task or final answer: the
index gives the runs holding every trigram of it, and SQL checks those
(:mod:`collector.query_search`). Runs whose id starts with ``q`` match either
way. A ``q`` under 3 characters that is not plain words, and every ``q`` while
the index is not ready, scans (:func:`collector.queries.where_clause`).
:mod:`collector.search_documents` describes the document of a run,
:mod:`collector.search_directory` the files of the index,
:mod:`collector.search_reading` how a page of hits is read from it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from collector.search_changes import NO_MARK, Changes, read_changes
from collector.search_directory import ANNOTATIONS_MARK, RUNS_MARK, IndexDirectory, OpenedIndex
from collector.search_documents import FORMAT, run_document
from collector.search_health import IndexHealth, damage_of
from collector.search_query import (
    SearchFilters,
    SearchHits,
    TextQuery,
    index_words,
    text_query,
)
from collector.search_reading import all_matching, search_page

__all__ = [
    "IndexUnreadable",
    "SearchFilters",
    "SearchHits",
    "SearchIndex",
    "TextQuery",
    "index_words",
    "text_query",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Reader = Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any]

_BATCH_RUNS = 2000
_PRUNE_EVERY_S = 300.0  # how often deleted runs (retention) are looked for


class IndexUnreadable(RuntimeError):
    """The index could not be read (damaged, or its storage failing): scan instead."""


class SearchIndex:
    """The index directory, its writer and the thread that keeps it fresh."""

    def __init__(self, directory: Path, read: Reader, *, interval_s: float = 2.0) -> None:
        self.directory = Path(directory)
        self._files = IndexDirectory(self.directory)
        self._read = read
        self._interval_s = interval_s
        self.health = IndexHealth()
        # tantivy (its library, the index's readers) is loaded when there is
        # something to index or to search: an idle collector does without.
        self._opened: OpenedIndex | None = None
        self._open_lock = threading.Lock()
        self._writer: Any = None
        self._behind = True  # the last pass was a full batch: more may be waiting
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._watermark, self._annotations_mark = NO_MARK, NO_MARK
        self._unprepared = True
        self._check_damage = False  # a reader failed: is the index damaged?
        try:
            self._prepare_directory()
        except OSError as exc:  # e.g. a full disk: the follower prepares it on a later beat
            self.health.failed(exc)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="search-index", daemon=True)
        self._thread.start()

    def _prepare_directory(self) -> None:
        """Make the directory ready (search_directory.py) and read where the follower stands."""
        self._files.prepare()
        self._watermark = self._files.load_mark(RUNS_MARK)
        self._annotations_mark = self._files.load_mark(ANNOTATIONS_MARK)
        self._unprepared = False

    def _open(self) -> OpenedIndex:
        opened = self._opened
        if opened is None:
            with self._open_lock:
                if self._opened is None:
                    self._opened = self._files.open()
                opened = self._opened
        return opened

    # --- keeping it fresh -------------------------------------------------------------
    def _follow(self) -> None:
        next_prune = time.monotonic() + _PRUNE_EVERY_S
        while not self._stop.is_set():
            try:
                if self._unprepared:
                    self._prepare_directory()
                if self._check_damage:
                    self._check_damage = False
                    self._rebuild_if_damaged()
                indexed = self.refresh_once()
                if not self._behind and time.monotonic() >= next_prune:
                    self.prune_deleted()
                    next_prune = time.monotonic() + _PRUNE_EVERY_S
                self.health.succeeded()
            except Exception as exc:  # thread boundary: try again on the next beat
                indexed = 0
                self._recover(exc)
            if indexed < _BATCH_RUNS:
                self._wake.wait(self._interval_s)
                self._wake.clear()

    def _recover(self, error: Exception) -> None:
        """After a failed beat: drop the writer (a fresh one starts from the last
        commit; the batch is indexed again, its watermark was not saved) and rebuild
        the index when it is damaged (collector/search_health.py)."""
        self.health.failed(error)
        with self._changed:
            self._changed.notify_all()  # waiting readers scan instead
        self._writer = None
        if self._unprepared:
            return  # the next beat makes the directory again
        try:
            self._rebuild_if_damaged()
        except Exception as exc:  # e.g. the disk full while emptying: tried again next beat
            self.health.failed(exc)

    def _rebuild_if_damaged(self) -> None:
        damage = damage_of(self.directory, FORMAT, self._files.read_afresh)
        if damage is not None:
            self._rebuild(damage)

    def _rebuild(self, reason: str) -> None:
        """Empty the index and index every run again from the database."""
        self.health.rebuilding(reason)
        with self._open_lock:
            self._writer = None
            self._opened = None  # readers holding the old index keep it until they finish
            with self._changed:
                self._behind = True
                self._watermark, self._annotations_mark = NO_MARK, NO_MARK
            self._unprepared = True  # until the directory is made again
            if self.directory.is_dir():
                self._files.empty()
            self._prepare_directory()
        self._wake.set()  # start the new build at once

    def refresh_once(self) -> int:
        """Index runs changed or annotated since the watermarks (one batch); returns how many."""
        runs_mark, annotations_mark = self._watermark, self._annotations_mark
        changes = self._read(
            lambda cur: read_changes(cur, runs_mark, annotations_mark, _BATCH_RUNS)
        )
        if changes.rows:
            self._write(changes)
        if changes.runs_mark != runs_mark:
            self._files.save_mark(RUNS_MARK, changes.runs_mark)
        if changes.annotations_mark != annotations_mark:
            self._files.save_mark(ANNOTATIONS_MARK, changes.annotations_mark)
        with self._changed:
            self._watermark = changes.runs_mark
            self._annotations_mark = changes.annotations_mark
            self._behind = changes.full
            self._changed.notify_all()
        return _BATCH_RUNS if changes.full else len(changes.rows)

    def prune_deleted(self) -> int:
        """Drop documents of runs no longer in the database (retention); returns how many.

        Deletions leave no trace in ``updated_at``: when the index holds more
        runs than the table, the ids are compared.
        """
        opened = self._open()
        searcher = opened.index.searcher()
        stored = self._read(lambda cur: cur.execute("SELECT count(*) FROM agent_runs").fetchone())
        if searcher.num_docs <= int(stored[0] if stored else 0):
            return 0
        found = searcher.search(opened.tantivy.Query.all_query(), searcher.num_docs, count=False)
        indexed = {searcher.doc(address)["id"][0] for _, address in found.hits}
        present = self._read(
            lambda cur: {
                row[0]
                for row in cur.execute(
                    "SELECT id FROM agent_runs WHERE id IN (SELECT unnest(?))", [sorted(indexed)]
                ).fetchall()
            }
        )
        gone = indexed - present
        if gone:
            writer = self._open_writer()
            for run_id in gone:
                writer.delete_documents_by_term("id", run_id)
            writer.commit()
            opened.index.reload()
        return len(gone)

    def _open_writer(self) -> Any:
        if self._writer is None:
            self._writer = self._open().index.writer(heap_size=32_000_000, num_threads=1)
        return self._writer

    def _write(self, changes: Changes) -> None:
        opened, writer = self._open(), self._open_writer()
        for row in changes.rows:
            writer.delete_documents_by_term("id", row[0])
            marks = changes.annotations.get(row[0], ())
            writer.add_document(run_document(opened.tantivy, row, changes.steps.get(row[0]), marks))
        writer.commit()
        opened.index.reload()

    # --- reading ----------------------------------------------------------------------
    def wait_fresh(
        self,
        snapshot_updated_at: datetime | None,
        timeout_s: float = 3.0,
        *,
        snapshot_annotated_at: datetime | None = None,
    ) -> bool:
        """True once the index holds every change up to ``snapshot_updated_at`` (and every
        annotation up to ``snapshot_annotated_at``, when given).

        False after ``timeout_s`` (a first build over a big file takes minutes:
        the caller scans meanwhile).
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while (
                self.health.failing
                or self._behind
                or (snapshot_updated_at is not None and self._watermark[0] < snapshot_updated_at)
                or (
                    snapshot_annotated_at is not None
                    and self._annotations_mark[0] < snapshot_annotated_at
                )
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set() or self.health.failing:
                    return False  # a failing index is not waited for: the caller scans
                self._wake.set()
                self._changed.wait(remaining)
            return True

    def search(
        self,
        query: TextQuery | Sequence[str] | None,
        filters: SearchFilters,
        *,
        limit: int,
        offset: int = 0,
        before: tuple[datetime | None, str] | None = None,
        newest: datetime | None = None,
    ) -> SearchHits:
        """Runs matching ``query`` that pass ``filters``, newest first, and their count.

        ``newest`` (the newest start the reader sees) lets the page be looked for
        in windows back from it, as :func:`~collector.search_query.page_hits` does. Raises
        :class:`IndexUnreadable` when the index cannot be read.
        """
        return self._reading(
            lambda: search_page(
                self._open(),
                query,
                filters,
                limit=limit,
                offset=offset,
                before=before,
                newest=newest,
            )
        )

    def _reading(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except Exception as exc:  # tantivy raises ValueError for every kind of failure
            # The follower checks the index on its next beat and rebuilds it if damaged.
            self._check_damage = True
            self._wake.set()
            raise IndexUnreadable(f"search index unreadable: {exc}") from exc

    def matching(
        self,
        query: TextQuery | Sequence[str] | None,
        filters: SearchFilters | None = None,
        *,
        at_most: int | None = None,
    ) -> SearchHits | None:
        """Every run matching ``query`` and ``filters``; None when more than ``at_most``.

        Raises :class:`IndexUnreadable` when the index cannot be read."""
        return self._reading(lambda: all_matching(self._open(), query, filters, at_most=at_most))

    def matching_ids(
        self,
        query: TextQuery | Sequence[str] | None,
        filters: SearchFilters | None = None,
        *,
        at_most: int | None = None,
    ) -> list[str] | None:
        """Every run id matching ``query`` and ``filters``; None when more than ``at_most``."""
        found = self.matching(query, filters, at_most=at_most)
        return None if found is None else found.run_ids

    def which_match(self, words: Sequence[str], run_ids: Sequence[str]) -> list[str]:
        """The ids among ``run_ids`` whose text holds every word."""
        found = self.matching_ids(words, SearchFilters(run_ids=run_ids))
        return found or []

    def health_figures(self) -> dict[str, object]:
        """How the index is doing, for ``/healthz`` (collector/search_health.py)."""
        return self.health.as_dict(building=self._behind)

    def close(self) -> None:
        """Stop following the database (the index stays on disk for the next start)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(30)
