"""Ship what a collector committed locally to the shared lake, exactly once.

The collector acknowledges a request after its local DuckDB commit, as in
single-node mode. This shipper then copies, in order of the local hash chain
(``span_chain.seq``), new spans and the rows they changed into the lake. One
lake transaction holds the rows and the new watermark (``ship_marks``: chain
seq and link hash), so a crash before the commit ships the same batch again and
a crash after it never ships it twice. On start the watermark is read back from
the lake, and the local chain must hold the same link at that seq: a different
local file under the same collector id is refused.

Rows that change are replaced by key in this collector's own lake schema
(collector/lake/layout.py), so collectors never conflict with each other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from collector.lake.connect import LakeError
from collector.lake.layout import (
    OWNED_TABLES,
    SHARED_TABLES,
    SMALL_TABLES,
    ensure_lake_tables,
    lake_columns,
)
from collector.lake.maintenance import MaintenanceReport, compact_own_tables

__all__ = ["LocalReader", "ShipResult", "Shipper", "ShipperError", "WrongLocalFile"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
# A callable that runs fn on a fresh cursor of the local database (RunStore.read).
LocalReader = Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any]

# Rows a batch can change started no earlier than its oldest span (see
# _span_floor); the slack covers clocks of different services in one trace.
_STARTED_SLACK = timedelta(minutes=10)
# Spans are appended in arrival order; a pass looks at rows received after the
# newest one shipped minus this slack, and everywhere if that misses any.
_RECEIVED_SLACK = timedelta(seconds=5)


class ShipperError(LakeError):
    """Shipping cannot go on; the message says why."""


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


@dataclass
class _Batch:
    seq: int
    hash: bytes
    tables: dict[str, pa.Table]
    traces: list[str]
    started_floor: datetime
    runs_floor: datetime | None
    updated_mark: datetime | None
    small_marks: dict[str, datetime | None]


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
        self._mark_seq = 0
        self._since: datetime | None = None
        # Small tables (cancel requests, prices, annotations): after a restart all
        # their rows are shipped again, replacing by key.
        self._small_marks: dict[str, datetime | None] = dict.fromkeys(SMALL_TABLES)
        # Spans are appended in arrival order: a lower bound on received_at
        # lets a pass skip the old row groups.
        self._received_floor: datetime | None = None
        self._next_received_floor: datetime | None = None
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
        self._mark_seq = seq
        self._since = updated_mark

    # --- one pass --------------------------------------------------------------
    @property
    def mark_seq(self) -> int:
        """The local chain seq up to which every span is in the lake."""
        return self._mark_seq

    def ship_once(self) -> ShipResult | None:
        """Ship the next batch; None when there was nothing new. Raises duckdb.Error."""
        with self._lock:
            start = time.perf_counter()
            cpu_start = time.thread_time()
            try:
                batch = self._read(self._collect)
                if batch is None:
                    return None
                writing = time.perf_counter()
                self._write(batch)
                self.lake_write_s += time.perf_counter() - writing
            finally:
                self.cpu_s += time.thread_time() - cpu_start
            self._mark_seq = batch.seq
            self._since = batch.updated_mark
            self._small_marks = batch.small_marks
            self._received_floor = self._next_received_floor
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

    def _collect(self, cur: duckdb.DuckDBPyConnection) -> _Batch | None:
        cur.execute("BEGIN TRANSACTION")  # one snapshot for the chain and the rows
        try:
            return self._collect_in_snapshot(cur)
        finally:
            cur.execute("COMMIT")

    def _collect_in_snapshot(self, cur: duckdb.DuckDBPyConnection) -> _Batch | None:
        # Every lookup below carries a time bound that DuckDB checks against each
        # row group's min/max first: rows are appended in arrival order, so a
        # pass reads the newest row groups, not the whole file.
        chain = cur.execute(
            "SELECT seq, trace_id, span_id, hash FROM span_chain WHERE seq > ? "
            "ORDER BY seq LIMIT ?",
            [self._mark_seq, self._max_spans],
        ).to_arrow_table()
        # Runs change without a new span too (marked lost). The single writer
        # stamps updated_at in commit order, so rows past the newest stamp
        # shipped so far are the ones not shipped yet (a step back of the wall
        # clock delays them until their trace changes again).
        since = self._since
        changed = None
        if since is not None:
            changed = cur.execute(
                "SELECT * FROM agent_runs WHERE updated_at > ?", [since]
            ).to_arrow_table()
        small: dict[str, pa.Table] = {}
        for table, (stamp, _) in SMALL_TABLES.items():
            mark = self._small_marks[table]
            small[table] = cur.execute(
                f"SELECT * FROM {table} WHERE ? IS NULL OR {stamp} > ?", [mark, mark]
            ).to_arrow_table()
        small_rows = sum(t.num_rows for t in small.values())
        if chain.num_rows == 0 and not (changed and changed.num_rows) and not small_rows:
            return None
        if chain.num_rows:
            seq = int(chain.column("seq")[-1].as_py())
            digest = bytes(chain.column("hash")[-1].as_py())
        else:
            seq, digest = self._mark_seq, b""
        spans = self._spans_of(cur, chain)
        traces = sorted(set(chain.column("trace_id").to_pylist()))
        floor = _span_floor(spans)
        parts = [changed] if changed is not None else []
        if traces:
            parts.append(
                cur.execute(
                    "SELECT * FROM agent_runs WHERE started_at >= ? "
                    "AND trace_id IN (SELECT unnest(?))",
                    [floor, traces],
                ).to_arrow_table()
            )
        runs = _unique_by_id(parts, cur)
        steps = cur.execute(
            "SELECT * FROM agent_steps WHERE started_at >= ? AND trace_id IN (SELECT unnest(?))",
            [floor, traces],
        ).to_arrow_table()
        newest = pc.max(runs.column("updated_at")).as_py() if runs.num_rows else None
        updated_mark = max((t for t in (since, newest) if t is not None), default=None)
        return _Batch(
            seq=seq,
            hash=digest,
            tables={
                "spans": spans,
                "agent_runs": runs,
                "agent_steps": steps,
                **small,
            },
            traces=traces,
            started_floor=floor,
            runs_floor=_runs_floor(runs),
            updated_mark=updated_mark,
            small_marks={
                table: (
                    pc.max(small[table].column(stamp)).as_py()
                    if small[table].num_rows
                    else self._small_marks[table]
                )
                for table, (stamp, _) in SMALL_TABLES.items()
            },
        )

    def _spans_of(self, cur: duckdb.DuckDBPyConnection, chain: pa.Table) -> pa.Table:
        """The span rows the chain batch names."""
        cur.register("_ship_chain", chain)
        try:
            query = (
                "SELECT s.* FROM spans s SEMI JOIN _ship_chain c "
                "ON s.trace_id = c.trace_id AND s.span_id = c.span_id"
            )
            if self._received_floor is not None:
                bounded = cur.execute(
                    query + " WHERE s.received_at >= ?", [self._received_floor]
                ).to_arrow_table()
                if bounded.num_rows == chain.num_rows:
                    spans = bounded
                else:  # the clock stepped back past the slack: look everywhere
                    spans = cur.execute(query).to_arrow_table()
            else:
                spans = cur.execute(query).to_arrow_table()
        finally:
            cur.unregister("_ship_chain")
        if spans.num_rows != chain.num_rows:
            raise ShipperError(
                f"{chain.num_rows} chain links but {spans.num_rows} span rows: "
                "the local file changed under the shipper"
            )
        if spans.num_rows:
            newest = pc.max(spans.column("received_at")).as_py()
            self._next_received_floor = newest - _RECEIVED_SLACK
        return spans

    def _write(self, batch: _Batch) -> None:
        lake = self._lake
        own = f"{self._alias}.{self._schema}"
        lake.execute("BEGIN")
        try:
            for name, table in batch.tables.items():
                lake.register(f"_ship_{name}", table)
            self._append(f"{self._alias}.main.spans", "spans")
            run_ids = batch.tables["agent_runs"].column("id").to_pylist()
            # Replace by key. The time bounds let DuckLake skip old files by their
            # min/max statistics instead of scanning the whole table; they match
            # the bounds the rows were selected with, so what is replaced is
            # exactly what was read.
            if run_ids:
                lake.execute(
                    f"DELETE FROM {own}.agent_runs WHERE id IN (SELECT unnest(?)) "
                    "AND (started_at IS NULL OR started_at >= ?)",
                    [run_ids, batch.runs_floor],
                )
                self._append(f"{own}.agent_runs", "agent_runs")
            if batch.traces:
                lake.execute(
                    f"DELETE FROM {own}.agent_steps WHERE started_at >= ? "
                    "AND trace_id IN (SELECT unnest(?))",
                    [batch.started_floor, batch.traces],
                )
                self._append(f"{own}.agent_steps", "agent_steps")
            for table, (_, key) in SMALL_TABLES.items():
                if batch.tables[table].num_rows:
                    match = " AND ".join(f"t.{k} = n.{k}" for k in key)
                    lake.execute(
                        f"DELETE FROM {own}.{table} t WHERE EXISTS "
                        f"(SELECT 1 FROM _ship_{table} n WHERE {match})"
                    )
                    self._append(f"{own}.{table}", table)
            if batch.seq != self._mark_seq or batch.updated_mark != self._since:
                lake.execute(f"DELETE FROM {own}.ship_marks")
                lake.execute(
                    f"INSERT INTO {own}.ship_marks VALUES (?, ?, ?)",
                    [batch.seq, batch.hash, batch.updated_mark],
                )
            lake.execute("COMMIT")
        except BaseException:
            try:
                lake.execute("ROLLBACK")
            except duckdb.Error:
                logger.exception("lake rollback failed")
            raise
        finally:
            for name in batch.tables:
                lake.unregister(f"_ship_{name}")

    def _append(self, target: str, name: str) -> None:
        cols = ", ".join(f'"{c}"' for c in self._columns[name])
        self._lake.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM _ship_{name}")

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


def _span_floor(spans: pa.Table) -> datetime:
    """Rows this batch can have changed started no earlier than its oldest span.

    A step is renumbered only when an earlier step arrives, an orphan step is
    adopted when its (earlier) run span arrives, and a model call's inner span
    starts inside the outer one: all at or after the oldest span of the batch.
    """
    starts = [v for v in spans.column("start_ns").to_pylist() if v is not None]
    if not starts:
        return datetime(1970, 1, 1)
    return datetime(1970, 1, 1) + timedelta(microseconds=min(starts) // 1000) - _STARTED_SLACK


def _runs_floor(runs: pa.Table) -> datetime | None:
    """A run keeps its started_at (its run span's start): older lake files cannot hold it."""
    values = [v for v in runs.column("started_at").to_pylist() if v is not None]
    return min(values) - _STARTED_SLACK if values else None


def _unique_by_id(parts: list[pa.Table], cur: duckdb.DuckDBPyConnection) -> pa.Table:
    """Concatenate run rows read by two lookups of one snapshot, each id once."""
    if not parts:
        return cur.execute("SELECT * FROM agent_runs LIMIT 0").to_arrow_table()
    table = pa.concat_tables(parts)
    seen: set[str] = set()
    keep = []
    for index, run_id in enumerate(table.column("id").to_pylist()):
        if run_id not in seen:
            seen.add(run_id)
            keep.append(index)
    return table.take(keep) if len(keep) != table.num_rows else table
