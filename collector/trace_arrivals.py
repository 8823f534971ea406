"""When each trace's first span was stored, so that reading a trace's spans skips older data.

Ingest reads a trace's stored spans when its steps came before their run (other
frameworks' spans) with ``WHERE trace_id IN (...)``: DuckDB's index scan does not
serve a prefix of the composite key ``(trace_id, span_id)``, so that read scanned
every span (~50 ms at 850k spans, ten times more at a million runs). Spans are
appended in arrival order with ``received_at``, so a lower bound on it lets DuckDB
skip, by each row group's min/max, everything stored before the trace began.

``trace_arrivals`` keeps that bound per trace. Every commit that stores spans of a
trace lowers its bound to the commit's time if the clock has gone back, so the
bound never exceeds the ``received_at`` of any span of the trace, and a trace it
does not hold has no stored span: reads of such traces are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import duckdb

from collector.id_lists import chunks, in_list

if TYPE_CHECKING:
    import pyarrow as pa
else:
    from collector.lazy_modules import pyarrow as pa

__all__ = ["TRACE_ARRIVALS_DDL", "TraceArrivals", "spans_reads"]

TRACE_ARRIVALS_DDL = """
CREATE TABLE IF NOT EXISTS trace_arrivals (
    trace_id VARCHAR PRIMARY KEY,
    first_received_at TIMESTAMP NOT NULL
);
INSERT INTO trace_arrivals
SELECT trace_id, min(received_at) FROM spans GROUP BY trace_id
ON CONFLICT DO NOTHING;
-- Ingest looks a trace's runs up when its steps came first. (Steps are read by
-- a scan: an index on their trace ids cost this project's own commits ~20%.)
CREATE INDEX IF NOT EXISTS agent_runs_trace_id ON agent_runs (trace_id);
"""

# Traces whose bounds lie within this span of each other are read in one statement
# bounded by the oldest of them; an older trace gets a statement of its own.
_GROUP_SPREAD = timedelta(hours=1)


class TraceArrivals:
    """The ``received_at`` bounds of some traces, for one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._bounds: dict[str, datetime | None] = {}  # None: no span of it is stored

    def record(self, trace_ids: Iterable[str], now: datetime) -> None:
        """Note that spans of ``trace_ids`` were stored at ``now`` in this transaction."""
        ids = sorted(set(trace_ids))
        known = self._stored(ids)
        new = [t for t in ids if t not in known]
        if new:
            self._con.register(
                "_new_traces",
                pa.table({"trace_id": new, "received_at": pa.array([now] * len(new))}),
            )
            # Looked up just now, and the writer is the one writer: a plain INSERT,
            # without the conflict check an upsert pays.
            self._con.execute(
                "INSERT INTO trace_arrivals SELECT trace_id, received_at FROM _new_traces"
            )
            self._con.unregister("_new_traces")
        # A clock set back: the bound must stay at or below every span's received_at.
        later = [t for t, first in known.items() if first > now]
        for listed, params in map(in_list, chunks(later)):
            self._con.execute(
                f"UPDATE trace_arrivals SET first_received_at = ? WHERE trace_id IN ({listed})",
                [now, *params],
            )
        for trace_id in ids:
            first = known.get(trace_id)
            self._bounds[trace_id] = now if first is None else min(first, now)

    def groups(self, trace_ids: Iterable[str]) -> list[tuple[datetime, list[str]]]:
        """``(since, ids)``: every stored span of ``ids`` has ``received_at >= since``.

        Traces with no stored span are left out.
        """
        ids = set(trace_ids)
        unknown = sorted(ids - self._bounds.keys())
        if unknown:
            stored = self._stored(unknown)
            self._bounds.update({t: stored.get(t) for t in unknown})
        bounded = sorted(
            ((bound, t) for t in ids if (bound := self._bounds[t]) is not None), reverse=True
        )
        groups: list[tuple[datetime, list[datetime], list[str]]] = []  # newest, oldest, ids
        for bound, trace_id in bounded:  # newest first
            if groups and groups[-1][0] - bound <= _GROUP_SPREAD:
                groups[-1][1][0] = bound
                groups[-1][2].append(trace_id)
            else:
                groups.append((bound, [bound], [trace_id]))
        return [(oldest[0], members) for _, oldest, members in groups]

    def _stored(self, ids: list[str]) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        for listed, params in map(in_list, chunks(ids)):
            found.update(
                self._con.execute(
                    "SELECT trace_id, first_received_at FROM trace_arrivals "
                    f"WHERE trace_id IN ({listed})",
                    params,
                ).fetchall()
            )
        return found


def spans_reads(
    arrivals: TraceArrivals | None, trace_ids: list[str]
) -> list[tuple[datetime, list[str]]]:
    """``(since, ids)`` pairs whose reads cover every stored span of ``trace_ids``.

    Without ``arrivals`` (a caller outside ingest), one read of every span.
    """
    if arrivals is None:
        return [(datetime.min, trace_ids)]
    return arrivals.groups(trace_ids)
