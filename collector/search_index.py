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
:mod:`collector.search_documents` describes the document of a run.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from collector.search_changes import NO_MARK, Changes, Mark, read_changes
from collector.search_documents import (
    FORMAT,
    build_schema,
    register_tokenizers,
    run_document,
)
from collector.search_health import IndexHealth, damage_of
from collector.search_query import (
    SearchFilters,
    SearchHits,
    TextQuery,
    count_hits,
    filtered_query,
    index_words,
    micros,
    page_hits,
    text_query,
    time_bounds,
    without_unmatched_prefix,
)

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
        self._read = read
        self._interval_s = interval_s
        self.health = IndexHealth()
        # tantivy (its library, the index's readers) is loaded when there is
        # something to index or to search: an idle collector does without.
        self._opened: tuple[Any, Any, Any] | None = None  # module, schema, index
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
        """Make the directory hold an index of this layout (emptied when of another, or
        when something else stands at its path) and read where the follower stands."""
        marker = self.directory / "format"
        if not self.directory.is_dir() and (self.directory.exists() or self.directory.is_symlink()):
            self.directory.unlink()  # a file, or a link to nothing (a link to a folder stays)
        elif self.directory.exists() and (
            not marker.exists() or marker.read_text().strip() != FORMAT
        ):
            _empty(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        marker.write_text(FORMAT)
        self._watermark = self._load_watermark("watermark")
        self._annotations_mark = self._load_watermark("annotation_watermark")
        self._unprepared = False

    def _open(self) -> tuple[Any, Any, Any]:
        opened = self._opened
        if opened is None:
            with self._open_lock:
                if self._opened is None:
                    import tantivy

                    schema = build_schema(tantivy)
                    index = tantivy.Index(schema, path=str(self.directory))
                    register_tokenizers(tantivy, index)
                    self._opened = (tantivy, schema, index)
                opened = self._opened
        return opened

    @property
    def _tantivy(self) -> Any:
        return self._open()[0]

    @property
    def _schema(self) -> Any:
        return self._open()[1]

    @property
    def _index(self) -> Any:
        return self._open()[2]

    # --- keeping it fresh -------------------------------------------------------------
    def _load_watermark(self, name: str) -> Mark:
        """(updated_at, id) of the last run indexed, or (created_at, id) of the last
        annotation seen: where the next pass starts."""
        path = self.directory / name
        try:
            moment, row_id = path.read_text().strip().split(" ", 1)
            return datetime.fromisoformat(moment), row_id
        except (OSError, ValueError):
            return NO_MARK

    def _save_watermark(self, name: str, mark: Mark) -> None:
        # Written after the index commit: a crash in between re-indexes a batch, harmlessly.
        temporary = self.directory / f"{name}.tmp"
        temporary.write_text(f"{mark[0].isoformat()} {mark[1]}")
        temporary.replace(self.directory / name)

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
        damage = damage_of(self.directory, FORMAT, self._read_afresh)
        if damage is not None:
            self._rebuild(damage)

    def _read_afresh(self) -> None:
        """Open the index on disk anew and read its document count."""
        import tantivy

        index = tantivy.Index(build_schema(tantivy), path=str(self.directory))
        index.searcher().num_docs  # noqa: B018 - reading it is the check

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
                _empty(self.directory)
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
            self._save_watermark("watermark", changes.runs_mark)
        if changes.annotations_mark != annotations_mark:
            self._save_watermark("annotation_watermark", changes.annotations_mark)
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
        searcher = self._index.searcher()
        stored = self._read(lambda cur: cur.execute("SELECT count(*) FROM agent_runs").fetchone())
        if searcher.num_docs <= int(stored[0] if stored else 0):
            return 0
        found = searcher.search(self._tantivy.Query.all_query(), searcher.num_docs, count=False)
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
            self._index.reload()
        return len(gone)

    def _open_writer(self) -> Any:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=32_000_000, num_threads=1)
        return self._writer

    def _write(self, changes: Changes) -> None:
        writer = self._open_writer()
        for row in changes.rows:
            writer.delete_documents_by_term("id", row[0])
            marks = changes.annotations.get(row[0], ())
            writer.add_document(run_document(self._tantivy, row, changes.steps.get(row[0]), marks))
        writer.commit()
        self._index.reload()

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
            lambda: self._search(
                query, filters, limit=limit, offset=offset, before=before, newest=newest
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

    def _search(
        self,
        query: TextQuery | Sequence[str] | None,
        filters: SearchFilters,
        *,
        limit: int,
        offset: int,
        before: tuple[datetime | None, str] | None,
        newest: datetime | None,
    ) -> SearchHits:
        lower, upper = time_bounds(filters)
        searcher = self._index.searcher()
        query = without_unmatched_prefix(self._tantivy, self._schema, searcher, query)
        total = count_hits(
            searcher, filtered_query(self._tantivy, self._schema, query, filters, lower, upper)
        )
        cursor_us = None
        if before is not None and before[0] is not None:
            # Keyset paging: at or before the cursor's start; ties are sorted out below.
            cursor_us = micros(before[0])
            upper = cursor_us if upper is None else min(upper, cursor_us)
        # A few more than asked for: ties with the cursor's start are dropped here.
        slack = 64 if cursor_us is not None else 0
        anchor = upper if upper is not None else (micros(newest) if newest else None)

        def hits_from(low: int | None, wanted: int) -> list[Any]:
            compiled = filtered_query(self._tantivy, self._schema, query, filters, low, upper)
            return list(
                searcher.search(
                    compiled, wanted, count=False, order_by_field="started_us", offset=offset
                ).hits
            )

        hits = page_hits(hits_from, lower, anchor, limit + slack, offset, total)
        keyed = [(key, searcher.doc(address)["id"][0]) for key, address in hits]
        if cursor_us is not None and before is not None:
            after_id = before[1]
            keyed = [(k, i) for k, i in keyed if k < cursor_us or (k == cursor_us and i < after_id)]
        keyed.sort(reverse=True)
        page = keyed[:limit]
        return SearchHits(
            run_ids=[run_id for _, run_id in page], total=total, starts_us=[k for k, _ in page]
        )

    def matching(
        self,
        query: TextQuery | Sequence[str] | None,
        filters: SearchFilters | None = None,
        *,
        at_most: int | None = None,
    ) -> SearchHits | None:
        """Every run matching ``query`` and ``filters``; None when more than ``at_most``.

        Raises :class:`IndexUnreadable` when the index cannot be read."""
        return self._reading(lambda: self._matching(query, filters, at_most=at_most))

    def _matching(
        self,
        query: TextQuery | Sequence[str] | None,
        filters: SearchFilters | None,
        *,
        at_most: int | None,
    ) -> SearchHits | None:
        lower, upper = time_bounds(filters or SearchFilters())
        searcher = self._index.searcher()
        query = without_unmatched_prefix(self._tantivy, self._schema, searcher, query)
        compiled = filtered_query(
            self._tantivy, self._schema, query, filters or SearchFilters(), lower, upper
        )
        total = count_hits(searcher, compiled)
        if at_most is not None and total > at_most:
            return None
        if not total:
            return SearchHits(run_ids=[], total=0)
        found = searcher.search(compiled, total, count=False, order_by_field="started_us")
        return SearchHits(
            run_ids=[searcher.doc(address)["id"][0] for _, address in found.hits],
            total=total,
            starts_us=[int(key) for key, _ in found.hits],
        )

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


def _empty(directory: Path) -> None:
    """Remove what ``directory`` holds, not the directory (it may be a mount point)."""
    for path in directory.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
