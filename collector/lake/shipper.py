"""Ship what a collector committed locally to the shared lake, exactly once.

The collector acknowledges a request after its local DuckDB commit, as in
single-node mode. This shipper then copies, in order of the local hash chain
(``span_chain.seq``), new spans and the rows they changed into the lake: each
pass reads a batch (collector/lake/ship_batch.py) and writes it with its
watermark in one lake transaction (collector/lake/ship_write.py). On start the
watermark is read back from the lake, and the local chain must hold the same
link at that seq: a different local file under the same collector id is refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb

from collector.lake.layout import (
    OWNED_TABLES,
    SHARED_TABLES,
    SMALL_TABLES,
    ensure_lake_tables,
    lake_columns,
)
from collector.lake.maintenance import MaintenanceReport, compact_own_tables
from collector.lake.ship_batch import ShipperError, Watermarks, collect_batch
from collector.lake.ship_write import write_batch

__all__ = ["LocalReader", "ShipResult", "Shipper", "ShipperError", "WrongLocalFile"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
# A callable that runs fn on a fresh cursor of the local database (RunStore.read).
LocalReader = Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any]


class WrongLocalFile(ShipperError):
    """The lake's watermark for this collector does not match its local file."""


@dataclass(frozen=True)
class ShipResult:
    """What one pass shipped."""

    spans: int
    runs: int
    steps: int
    seq: int
    seconds: float


class Shipper:
    """Copies local commits into the lake; ``ship_once`` is one pass, ``start`` a thread."""

    def __init__(
        self,
        *,
        local_read: LocalReader,
        lake: duckdb.DuckDBPyConnection,
        alias: str,
        schema: str,
        max_spans: int = 20_000,
        interval_s: float = 0.5,
        compact_every_s: float = 300.0,
    ) -> None:
        self._read = local_read
        self._lake = lake
        self._alias = alias
        self._schema = schema
        self._max_spans = max_spans
        self._interval_s = interval_s
        self._compact_every_s = compact_every_s
        self._next_compact = time.monotonic() + compact_every_s
        self.last_compaction: MaintenanceReport | None = None
        # Small tables (cancel requests, prices, annotations): after a restart all
        # their rows are shipped again, replacing by key. Spans are appended in
        # arrival order: a lower bound on received_at lets a pass skip the old
        # row groups; unknown after a restart.
        self._shipped = Watermarks(
            seq=0, since=None, small=dict.fromkeys(SMALL_TABLES), received_floor=None
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.shipped_spans = 0
        self.passes = 0
        # CPU of the shipping thread (time.thread_time: this thread only, so the
        # receive path's CPU is not in it) and wall time inside lake commits.
        self.cpu_s = 0.0
        self.lake_write_s = 0.0
        self.failures = 0
        self.last_error: str | None = None
        self.last_shipped_at: float | None = None  # monotonic
        self._prepare()

    # --- set-up ----------------------------------------------------------------
    def _prepare(self) -> None:
        columns = self._read(
            lambda cur: {t: lake_columns(cur, t) for t in (*SHARED_TABLES, *OWNED_TABLES)}
        )
        for attempt in range(10):
            try:
                ensure_lake_tables(self._lake, self._alias, self._schema, columns)
                break
            except duckdb.TransactionException:
                # Another collector created the shared tables at the same moment.
                if attempt == 9:
                    raise
                time.sleep(0.1 * (attempt + 1))
        self._columns = {t: [c for c, _ in cols] for t, cols in columns.items()}
        row = self._lake.execute(
            f"SELECT seq, hash, updated_mark FROM {self._alias}.{self._schema}.ship_marks "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return
        seq, digest, updated_mark = int(row[0]), bytes(row[1]), row[2]
        local = self._read(
            lambda cur: cur.execute(
                "SELECT hash FROM span_chain WHERE seq = ? UNION ALL "
                "SELECT hash FROM chain_tombstones WHERE seq = ?",
                [seq, seq],
            ).fetchone()
        )
        if local is None or bytes(local[0]) != digest:
            raise WrongLocalFile(
                f"the lake says collector schema {self._schema} shipped up to chain seq {seq}, "
                "but this collector's local file holds a different chain there: it is not the "
                "file that shipped. Use its original file, or a new collector id."
            )
        self._shipped = Watermarks(seq, updated_mark, self._shipped.small, None)

    # --- one pass --------------------------------------------------------------
    @property
    def mark_seq(self) -> int:
        """The local chain seq up to which every span is in the lake."""
        return self._shipped.seq

    def ship_once(self) -> ShipResult | None:
        """Ship the next batch; None when there was nothing new. Raises duckdb.Error."""
        with self._lock:
            start = time.perf_counter()
            cpu_start = time.thread_time()
            try:
                shipped = self._shipped
                batch = self._read(lambda cur: collect_batch(cur, shipped, self._max_spans))
                if batch is None:
                    return None
                writing = time.perf_counter()
                write_batch(self._lake, self._alias, self._schema, self._columns, batch, shipped)
                self.lake_write_s += time.perf_counter() - writing
            finally:
                self.cpu_s += time.thread_time() - cpu_start
            self._shipped = batch.watermarks()
            spans = batch.tables["spans"].num_rows
            self.shipped_spans += spans
            self.passes += 1
            self.last_shipped_at = time.monotonic()
            return ShipResult(
                spans=spans,
                runs=batch.tables["agent_runs"].num_rows,
                steps=batch.tables["agent_steps"].num_rows,
                seq=batch.seq,
                seconds=time.perf_counter() - start,
            )

    def ship_all(self, timeout_s: float = 60.0) -> int:
        """Ship until nothing is left (tests, shutdown); returns spans shipped."""
        deadline = time.monotonic() + timeout_s
        total = 0
        while time.monotonic() < deadline:
            result = self.ship_once()
            if result is None:
                return total
            total += result.spans
        raise ShipperError(f"still shipping after {timeout_s:.0f}s")

    # --- background thread ----------------------------------------------------
    def start(self) -> None:
        """Ship every ``interval_s`` on a daemon thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="lake-shipper", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread after a last pass that ships what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        try:
            self.ship_all(timeout_s)
        except Exception:  # noqa: BLE001 - shutdown: the next start ships the rest
            logger.exception("final shipping pass failed; the rest ships at the next start")

    def _run(self) -> None:
        backoff = self._interval_s
        while not self._stop.wait(backoff):
            try:
                result = self.ship_once()
                # A full batch means more is waiting: go on without a pause.
                backoff = 0.0 if result and result.spans >= self._max_spans else self._interval_s
                self.last_error = None
                if time.monotonic() >= self._next_compact:
                    # On this thread: nothing else writes these tables, so no conflicts.
                    cpu_start = time.thread_time()
                    self.last_compaction = compact_own_tables(self._lake, self._alias, self._schema)
                    self.cpu_s += time.thread_time() - cpu_start
                    self._next_compact = time.monotonic() + self._compact_every_s
            except Exception as exc:  # noqa: BLE001 - thread boundary; the pass is retried
                self.failures += 1
                self.last_error = str(exc)
                logger.warning("shipping to the lake failed (will retry): %s", exc)
                backoff = min(10.0, max(self._interval_s, backoff * 2))
