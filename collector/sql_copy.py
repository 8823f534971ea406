"""What the ``/sql`` worker's copy needs: read in one snapshot, sent as Arrow batches.

Only what changed is sent. Spans: those past the last chain link copied.
Runs and steps (updated in place by many write paths): the rows whose content
hash differs from the one the copy was made from, plus the ids of rows gone
since (see :class:`RowHashes`). The small tables (cancel requests,
annotations, prices) are sent whole. Batches are streamed: the collector holds
one batch at a time, and the worker commits every few of them
(:mod:`collector.sql_replica`), so a copy of any size travels in bounded
memory on both sides. :class:`CopyProgress` counts the rows as they go, for
the "copy being built, N% done" answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb

from collector.sql_allowlist import DOCUMENTED_TABLES
from collector.sql_saved_copy import chain_hash_at
from collector.sql_worker_process import WorkerProcess

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    from collector.lazy_modules import pyarrow as pa
    from collector.lazy_modules import pyarrow_compute as pc

__all__ = ["CopyProgress", "SentCopy", "fingerprint", "send_tables"]

# Rows per Arrow batch sent to the worker. The collector holds a batch, DuckDB's
# next one and the pickled copy on its way at once: 8,192 spans of agent-shaped
# size (1-4 KB) took the collector ~100 MB above its ingest peak, 1,024 ~10 MB
# (bench.load's peak_rss_mb_sql_count). The worker commits by bytes, not batches.
_BATCH_ROWS = 1024

# Updated in place by many write paths (ingest, adoption of rootless runs, lost
# runs, re-derivation, retention): a changed row is found by its content hash,
# not by trusting any one column to move.
_BY_ROW_HASH = frozenset({"agent_runs", "agent_steps"})


@dataclass
class CopyProgress:
    """Rows sent so far out of the rows a refresh sends (set once they are counted)."""

    whole: bool  # a first (whole) copy, rather than a refresh of what changed
    started: float = field(default_factory=time.monotonic)
    total_rows: int = 0
    sent_rows: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, rows: int) -> None:
        with self._lock:
            self.sent_rows += rows

    def percent(self) -> int:
        with self._lock:
            if self.total_rows <= 0:
                return 0
            return min(99, self.sent_rows * 100 // self.total_rows)

    def seconds_left(self) -> float | None:
        """A guess from the rate so far; None before any row went."""
        with self._lock:
            sent, total = self.sent_rows, self.total_rows
        elapsed = time.monotonic() - self.started
        if sent <= 0 or total <= 0:
            return None
        return max(0.0, elapsed * (total - sent) / sent)

    def describe(self) -> str:
        what = "the /sql copy of the tables is being built" if self.whole else "refreshing"
        with self._lock:
            sent, total = self.sent_rows, self.total_rows
        if total <= 0:
            return f"{what}: counting rows"
        return f"{what}: {self.percent()}% done ({sent:,} of {total:,} rows)"


@dataclass(frozen=True)
class SentCopy:
    """What the worker's copy holds once the refresh is committed."""

    spans_seq: int
    spans_count: int
    chain_hash: str  # hex of the chain link spans_seq
    row_hashes: dict[str, pa.Table]
    sent: dict[str, int]  # rows sent per table


def send_tables(
    cur: duckdb.DuckDBPyConnection,
    worker: WorkerProcess,
    generation: int,
    progress: CopyProgress,
    copy_id: str,
) -> SentCopy:
    """Stream the tables in one snapshot; return what the copy then holds."""
    cur.execute("BEGIN TRANSACTION READ ONLY")  # one snapshot for all tables
    try:
        row = cur.execute(
            "SELECT coalesce((SELECT max(seq) FROM span_chain), 0), (SELECT count(*) FROM spans)"
        ).fetchone()
        max_seq, total = (int(row[0]), int(row[1])) if row else (0, 0)
        chain = chain_hash_at(cur, max_seq)
        # Spans are only ever inserted (each with the next chain link) or removed by
        # retention: when the counts add up, only the spans past the last link copied
        # are sent; otherwise the whole table is.
        new_spans = "FROM spans s JOIN span_chain c USING (trace_id, span_id) WHERE c.seq > ?"
        added = 0
        append = False
        if worker.spans_seq is not None and worker.spans_count is not None:
            counted = cur.execute(f"SELECT count(*) {new_spans}", [worker.spans_seq])
            added = int((counted.fetchone() or (0,))[0])
            append = worker.spans_count + added == total
        plan = [
            (table, "upsert" if table in worker.row_hashes else "replace")
            if table in _BY_ROW_HASH
            else (table, "replace")
            for table in sorted(DOCUMENTED_TABLES - {"spans"})
        ]
        plan.append(("spans", "append" if append else "replace"))
        # Each table's rows are counted (or, for runs and steps, found) before any
        # is sent, so the progress has its whole from the start.
        sources: list[tuple[str, str, Any]] = []
        hashes: dict[str, pa.Table] = {}
        total_rows = 0
        for table, mode in plan:
            if table in _BY_ROW_HASH:
                diff = RowHashes(cur, table, worker.row_hashes.get(table))
                hashes[table] = diff.now
                sources.append((table, mode, diff))
                total_rows += diff.row_count(whole=mode == "replace")
            elif table == "spans" and mode == "append":
                sources.append((table, mode, None))
                total_rows += added
            else:
                sources.append((table, mode, None))
                total_rows += _count(cur, table)
        progress.total_rows = total_rows
        sent: dict[str, int] = {}
        worker.conn.send(("sync", plan, generation, copy_id))
        for table, mode, diff in sources:
            source: Iterator[pa.RecordBatch | pa.Schema]
            if isinstance(diff, RowHashes):
                if mode == "upsert":
                    # The copy drops these ids, then takes the changed rows anew.
                    worker.conn.send(("drop", diff.stale_ids()))
                source = diff.rows(whole=mode == "replace")
            elif table == "spans" and mode == "append":
                source = _stream(cur, f"SELECT s.* {new_spans}", [worker.spans_seq])
            else:
                source = _stream(cur, f'SELECT * FROM "{table}"', [])
            sent[table] = 0
            for item in source:
                if isinstance(item, pa.Schema):
                    # The empty table first: it creates the columns even when no row follows.
                    worker.conn.send(("rows", item.empty_table()))
                    continue
                worker.conn.send(("rows", item))
                sent[table] += item.num_rows
                progress.add(item.num_rows)
            worker.conn.send(("end",))
    finally:
        cur.execute("ROLLBACK")
    return SentCopy(max_seq, total, chain, hashes, sent)


def _count(cur: duckdb.DuckDBPyConnection, table: str) -> int:
    return int((cur.execute(f'SELECT count(*) FROM "{table}"').fetchone() or (0,))[0])


class RowHashes:
    """Which rows of a table differ from the copy's: (id, hash of the whole row) now,
    against the same pairs when the copy was made (both in the collector's memory,
    ~30 bytes a row; the join runs in DuckDB)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, table: str, before: pa.Table | None) -> None:
        self._cur = cur
        self._table = table
        self._before = before
        self._changed: pa.ChunkedArray | None = None
        # Streamed into Arrow (the collector's heap), not materialised in DuckDB's
        # buffer pool, which ingest shares: 8.5M pairs at 1M runs filled it.
        reader = cur.execute(f'SELECT id, hash(t) AS h FROM "{table}" t').to_arrow_reader(
            _BATCH_ROWS * 8
        )
        self.now: pa.Table = pa.Table.from_batches(list(reader), reader.schema)

    def _changed_ids(self) -> pa.ChunkedArray:
        """Ids new or different since the copy. Compared with Arrow compute in the
        collector's heap: a join in DuckDB would use the buffer pool ingest needs."""
        if self._changed is None:
            assert self._before is not None
            at = pc.index_in(self.now["id"], value_set=self._before["id"])
            same = pc.fill_null(pc.equal(pc.take(self._before["h"], at), self.now["h"]), False)
            self._changed = pc.filter(self.now["id"], pc.invert(same))
        return self._changed

    def row_count(self, *, whole: bool) -> int:
        """How many rows :meth:`rows` sends."""
        return self.now.num_rows if whole else len(self._changed_ids())

    def stale_ids(self) -> pa.Table:
        """Ids the copy must drop: rows changed or gone since it was made."""
        assert self._before is not None
        gone = pc.filter(
            self._before["id"], pc.invert(pc.is_in(self._before["id"], value_set=self.now["id"]))
        )
        changed = self._changed_ids()
        ids = pa.chunked_array(changed.chunks + gone.cast(changed.type).chunks, changed.type)
        return pa.table({"id": ids})

    def rows(self, *, whole: bool) -> Iterator[pa.RecordBatch | pa.Schema]:
        """The schema, then the rows to send (streamed): all of them, or those new or
        changed."""
        if whole:
            yield from _stream(self._cur, f'SELECT * FROM "{self._table}"', [])
            return
        self._cur.register("_changed_ids", pa.table({"id": self._changed_ids()}))
        try:
            yield from _stream(
                self._cur,
                f'SELECT t.* FROM "{self._table}" t SEMI JOIN _changed_ids c ON c.id = t.id',
                [],
            )
        finally:
            self._cur.unregister("_changed_ids")


def _stream(
    cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
) -> Iterator[pa.RecordBatch | pa.Schema]:
    reader = cur.execute(sql, params).to_arrow_reader(_BATCH_ROWS)
    yield reader.schema
    yield from reader


def fingerprint(cur: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """Counts and high-water marks that change whenever a documented table does.

    Spans only ever gain chain links; runs change with ``updated_at``; steps
    change only with their run (renumbering, adoption, removal happen in the same
    transaction that updates the run) or with retention, which the counts catch.
    """
    row = cur.execute(
        "SELECT (SELECT max(seq) FROM span_chain), (SELECT count(*) FROM spans), "
        "(SELECT count(*) FROM agent_runs), (SELECT max(updated_at) FROM agent_runs), "
        "(SELECT count(*) FROM agent_steps), (SELECT count(*) FROM cancel_requests), "
        "(SELECT max(requested_at) FROM cancel_requests), (SELECT count(*) FROM annotations), "
        "(SELECT count(*) FROM model_prices), (SELECT max(priced_at) FROM model_prices)"
    ).fetchone()
    return tuple(row or ())
