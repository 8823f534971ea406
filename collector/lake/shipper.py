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

from collector.lake.layout import OWNED_TABLES, SHARED_TABLES, ensure_lake_tables, lake_columns
from collector.lake.maintenance import MaintenanceReport, compact_own_tables

__all__ = ["LocalReader", "ShipResult", "Shipper", "ShipperError", "WrongLocalFile"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
# A callable that runs fn on a fresh cursor of the local database (RunStore.read).
LocalReader = Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any]

# A row keeps its started_at, or it moves earlier as the run span arrives; the
# slack covers the rare move the other way.
_STARTED_SLACK = timedelta(hours=1)


class ShipperError(Exception):
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
    started_floor: datetime | None
    updated_mark: datetime | None
    cancel_mark: datetime | None


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
        # Cancel requests are few: after a restart all are shipped again (by key).
        self._cancel_mark: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.shipped_spans = 0
        self.passes = 0
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
            batch = self._read(self._collect)
            if batch is None:
                return None
            self._write(batch)
            self._mark_seq = batch.seq
            self._since = batch.updated_mark
            self._cancel_mark = batch.cancel_mark
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
        changed_runs = 0
        if since is not None:
            row = cur.execute(
                "SELECT count(*) FROM agent_runs WHERE updated_at > ?", [since]
            ).fetchone()
            changed_runs = int(row[0]) if row else 0
        cancels = cur.execute(
            "SELECT * FROM cancel_requests WHERE ? IS NULL OR requested_at > ?",
            [self._cancel_mark, self._cancel_mark],
        ).to_arrow_table()
        if chain.num_rows == 0 and changed_runs == 0 and cancels.num_rows == 0:
            return None
        if chain.num_rows:
            seq = int(chain.column("seq")[-1].as_py())
            digest = bytes(chain.column("hash")[-1].as_py())
        else:
            seq, digest = self._mark_seq, b""
        cur.register("_ship_chain", chain)
        spans = cur.execute(
            "SELECT s.* FROM spans s SEMI JOIN _ship_chain c "
            "ON s.trace_id = c.trace_id AND s.span_id = c.span_id"
        ).to_arrow_table()
        cur.unregister("_ship_chain")
        traces = sorted(set(chain.column("trace_id").to_pylist()))
        runs = cur.execute(
            "SELECT * FROM agent_runs WHERE trace_id IN (SELECT unnest(?)) "
            "OR (? IS NOT NULL AND updated_at > ?)",
            [traces, since, since],
        ).to_arrow_table()
        steps = cur.execute(
            "SELECT * FROM agent_steps WHERE trace_id IN (SELECT unnest(?))", [traces]
        ).to_arrow_table()
        floor = _started_floor(runs, steps)
        newest = pc.max(runs.column("updated_at")).as_py() if runs.num_rows else None
        updated_mark = max((t for t in (since, newest) if t is not None), default=None)
        return _Batch(
            seq=seq,
            hash=digest,
            tables={
                "spans": spans,
                "agent_runs": runs,
                "agent_steps": steps,
                "cancel_requests": cancels,
            },
            traces=traces,
            started_floor=floor,
            updated_mark=updated_mark,
            cancel_mark=(
                pc.max(cancels.column("requested_at")).as_py()
                if cancels.num_rows
                else self._cancel_mark
            ),
        )

    def _write(self, batch: _Batch) -> None:
        lake = self._lake
        own = f"{self._alias}.{self._schema}"
        lake.execute("BEGIN")
        try:
            for name, table in batch.tables.items():
                lake.register(f"_ship_{name}", table)
            self._append(f"{self._alias}.main.spans", "spans")
            run_ids = batch.tables["agent_runs"].column("id").to_pylist()
            # Replace by key. The started_at bound lets DuckLake skip old files by
            # their min/max statistics instead of scanning the whole table.
            floor_sql, floor_args = _floor(batch.started_floor)
            if run_ids or batch.traces:
                lake.execute(
                    f"DELETE FROM {own}.agent_runs WHERE (id IN (SELECT unnest(?)) "
                    f"OR trace_id IN (SELECT unnest(?))) {floor_sql}",
                    [run_ids, batch.traces, *floor_args],
                )
                self._append(f"{own}.agent_runs", "agent_runs")
            if batch.traces:
                lake.execute(
                    f"DELETE FROM {own}.agent_steps WHERE trace_id IN (SELECT unnest(?)) "
                    f"{floor_sql}",
                    [batch.traces, *floor_args],
                )
                self._append(f"{own}.agent_steps", "agent_steps")
            if batch.tables["cancel_requests"].num_rows:
                lake.execute(
                    f"DELETE FROM {own}.cancel_requests WHERE run_id IN "
                    "(SELECT run_id FROM _ship_cancel_requests)"
                )
                self._append(f"{own}.cancel_requests", "cancel_requests")
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
                    self.last_compaction = compact_own_tables(self._lake, self._alias, self._schema)
                    self._next_compact = time.monotonic() + self._compact_every_s
            except Exception as exc:  # noqa: BLE001 - thread boundary; the pass is retried
                self.failures += 1
                self.last_error = str(exc)
                logger.warning("shipping to the lake failed (will retry): %s", exc)
                backoff = min(10.0, max(self._interval_s, backoff * 2))


def _started_floor(runs: pa.Table, steps: pa.Table) -> datetime | None:
    values = [
        v
        for table in (runs, steps)
        for v in table.column("started_at").to_pylist()
        if v is not None
    ]
    return min(values) if values else None


def _floor(floor: datetime | None) -> tuple[str, list[Any]]:
    """Skip lake rows older than any local row of these traces (rows keep started_at)."""
    if floor is None:
        return "", []
    return "AND (started_at IS NULL OR started_at >= ?)", [floor - _STARTED_SLACK]
