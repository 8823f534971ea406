"""One shipping batch, read from the collector's local file in one snapshot.

A batch is the next stretch of the local hash chain (``span_chain.seq`` past
the watermark, at most ``max_spans`` links), the span rows it names, and the
rows those spans can have changed: runs and steps of their traces (bounded by
the batch's oldest span), runs updated since the last pass (marked lost, say),
and the small tables' rows stamped since theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import duckdb

from collector.lake.connect import LakeError
from collector.lake.layout import SMALL_TABLES

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    from collector.lazy_modules import pyarrow as pa
    from collector.lazy_modules import pyarrow_compute as pc

__all__ = ["ShipBatch", "ShipperError", "Watermarks", "collect_batch"]

# Rows a batch can change started no earlier than its oldest span (see
# _span_floor); the slack covers clocks of different services in one trace.
_STARTED_SLACK = timedelta(minutes=10)
# Spans are appended in arrival order; a pass looks at rows received after the
# newest one shipped minus this slack, and everywhere if that misses any.
_RECEIVED_SLACK = timedelta(seconds=5)


class ShipperError(LakeError):
    """Shipping cannot go on; the message says why."""


@dataclass(frozen=True)
class Watermarks:
    """How far shipping got: what the next batch starts after."""

    seq: int  # the local chain seq up to which every span is in the lake
    since: datetime | None  # the newest agent_runs.updated_at shipped
    small: dict[str, datetime | None]  # per small table, its newest stamp shipped
    received_floor: datetime | None  # spans received before this are all shipped


@dataclass
class ShipBatch:
    """The rows of one pass, and the watermarks they move to once in the lake."""

    seq: int
    hash: bytes
    tables: dict[str, pa.Table]
    traces: list[str]
    started_floor: datetime
    runs_floor: datetime | None
    updated_mark: datetime | None
    small_marks: dict[str, datetime | None]
    received_floor: datetime | None

    def watermarks(self) -> Watermarks:
        return Watermarks(self.seq, self.updated_mark, self.small_marks, self.received_floor)


def collect_batch(
    cur: duckdb.DuckDBPyConnection, marks: Watermarks, max_spans: int
) -> ShipBatch | None:
    """The batch after ``marks``, or None when nothing is new."""
    cur.execute("BEGIN TRANSACTION")  # one snapshot for the chain and the rows
    try:
        return _collect_in_snapshot(cur, marks, max_spans)
    finally:
        cur.execute("COMMIT")


def _collect_in_snapshot(
    cur: duckdb.DuckDBPyConnection, marks: Watermarks, max_spans: int
) -> ShipBatch | None:
    # Every lookup below carries a time bound that DuckDB checks against each
    # row group's min/max first: rows are appended in arrival order, so a
    # pass reads the newest row groups, not the whole file.
    chain = cur.execute(
        "SELECT seq, trace_id, span_id, hash FROM span_chain WHERE seq > ? ORDER BY seq LIMIT ?",
        [marks.seq, max_spans],
    ).to_arrow_table()
    # Runs change without a new span too (marked lost). The single writer
    # stamps updated_at in commit order, so rows past the newest stamp
    # shipped so far are the ones not shipped yet (a step back of the wall
    # clock delays them until their trace changes again).
    since = marks.since
    changed = None
    if since is not None:
        changed = cur.execute(
            "SELECT * FROM agent_runs WHERE updated_at > ?", [since]
        ).to_arrow_table()
    small: dict[str, pa.Table] = {}
    for table, (stamp, _) in SMALL_TABLES.items():
        mark = marks.small[table]
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
        seq, digest = marks.seq, b""
    spans = _spans_of(cur, chain, marks.received_floor)
    traces = sorted(set(chain.column("trace_id").to_pylist()))
    floor = _span_floor(spans)
    parts = [changed] if changed is not None else []
    if traces:
        parts.append(
            cur.execute(
                "SELECT * FROM agent_runs WHERE started_at >= ? AND trace_id IN (SELECT unnest(?))",
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
    return ShipBatch(
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
                else marks.small[table]
            )
            for table, (stamp, _) in SMALL_TABLES.items()
        },
        received_floor=_received_floor(spans, marks.received_floor),
    )


def _spans_of(
    cur: duckdb.DuckDBPyConnection, chain: pa.Table, received_floor: datetime | None
) -> pa.Table:
    """The span rows the chain batch names."""
    cur.register("_ship_chain", chain)
    try:
        query = (
            "SELECT s.* FROM spans s SEMI JOIN _ship_chain c "
            "ON s.trace_id = c.trace_id AND s.span_id = c.span_id"
        )
        if received_floor is not None:
            bounded = cur.execute(
                query + " WHERE s.received_at >= ?", [received_floor]
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
    return spans


def _received_floor(spans: pa.Table, previous: datetime | None) -> datetime | None:
    if not spans.num_rows:
        return previous
    newest: datetime = pc.max(spans.column("received_at")).as_py()
    return newest - _RECEIVED_SLACK


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
