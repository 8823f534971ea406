"""SQL for ``GET /agent/runs/stats``: aggregates over the runs a filter selects.

Percentiles are DuckDB's ``quantile_cont`` (linear interpolation between the
two nearest values, as numpy's default). Everything is read in one read-only
transaction so the figures agree with each other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb

from collector.queries import RunFilters, in_snapshot, where_clause
from collector.query_search import search_where
from collector.query_stats_cache import Background, StatsCache, data_version, database_key
from collector.search_index import SearchIndex
from collector.serialize import iso_utc
from collector.stats_all_runs import AllRunsStats
from instrumentation.attributes import RunStatus

__all__ = [
    "BUCKETS",
    "AUTO_HOURLY_UP_TO",
    "ALL_RUNS",
    "CACHE",
    "Background",
    "run_stats",
    "choose_bucket",
]


# Answers by filter and data version (collector/query_stats_cache.py).
CACHE = StatsCache()
# Every run's stats on a big store, fresh at every call (collector/stats_all_runs.py).
ALL_RUNS = AllRunsStats()

BUCKETS = ("hour", "day")
# Ranges up to this long are drawn per hour, longer ones per day.
AUTO_HOURLY_UP_TO = timedelta(days=3)
ERROR_STATUSES = (RunStatus.FAILED.value, RunStatus.LOST.value)
UNKNOWN = "unknown"


def choose_bucket(start: datetime | None, end: datetime | None) -> str:
    """``hour`` for a range up to three days (or an unknown one), else ``day``."""
    if start is None or end is None or end - start <= AUTO_HOURLY_UP_TO:
        return "hour"
    return "day"


def _rate(part: int | float | None, whole: int | float | None) -> float:
    return float(part or 0) / float(whole) if whole else 0.0


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def run_stats(
    cursor: duckdb.DuckDBPyConnection,
    filters: RunFilters,
    *,
    bucket: str | None = None,
    top_tools: int = 10,
    search: SearchIndex | None = None,
    cache: StatsCache | None = CACHE,
    background: Background | None = None,
    all_runs: AllRunsStats | None = ALL_RUNS,
) -> dict[str, Any]:
    """The stats object of the REST contract for the runs matching ``filters``.

    With ``search``, ``q`` matches as in the run list (:func:`search_where`).
    With ``cache`` (the default), an answer computed at the same data version is
    reused, and on a big database one may lag new runs by a few seconds
    (collector/query_stats_cache.py); ``cache=None`` always computes. With
    ``background`` (a way to read on another thread), a big database's kept
    answer is returned at once and computed again there. With ``all_runs`` (the
    default), the stats of every run (no filter) on a big store are read from
    figures folded as runs arrive plus the newest rows, in the caller's snapshot:
    always current, never a kept answer (collector/stats_all_runs.py).
    """
    if all_runs is not None and filters == RunFilters():
        answer = in_snapshot(
            cursor, lambda: all_runs.answer(cursor, database_key(cursor), bucket, top_tools)
        )
        if answer is not None:
            return answer
    if cache is None:
        return in_snapshot(cursor, lambda: _compute(cursor, filters, bucket, top_tools, search))

    def compute(cur: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        return _compute(cur, filters, bucket, top_tools, search)

    def version_of(cur: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
        return data_version(cur, annotations=bool(filters.annotation))

    key = (filters, bucket, top_tools, search is not None)
    return cache.answer(cursor, key, compute, version_of, background)


# Steps start after their run: an hour's margin for clocks of other hosts (as the search
# index's step text, collector/search_documents.py).
_CLOCK_MARGIN = timedelta(hours=1)
_TOOL_STEPS = "SELECT tool_name, status, duration_ms, agent_run_id FROM agent_steps"


def _tool_steps(where: str, first: datetime | None, undated: bool) -> tuple[str, list[Any]]:
    """``FROM`` the tool steps of the selected runs (aliased ``s``), and its parameters.

    Unfiltered, every step with a run counts: no semi-join over all runs. Filtered,
    only steps from an hour before the earliest selected run's start are read
    (DuckDB skips older row groups by their min/max; a day's stats no longer read
    every step), plus steps with no start time, in two scans rather than one OR,
    joined to the runs once: a join for each scan built the runs' hash table twice
    (~3 ms of a day's 1M-run stats).
    """
    if where == "TRUE":
        return f"({_TOOL_STEPS} WHERE tool_name IS NOT NULL AND agent_run_id IS NOT NULL) s", []
    in_runs = "agent_run_id IN (SELECT id FROM runs)"
    if first is None or undated:  # a run with no start: its steps may start whenever
        return f"({_TOOL_STEPS} WHERE tool_name IS NOT NULL AND {in_runs}) s", []
    return (
        f"({_TOOL_STEPS} WHERE started_at >= ? AND tool_name IS NOT NULL "
        f"UNION ALL {_TOOL_STEPS} WHERE started_at IS NULL AND tool_name IS NOT NULL) s "
        f"WHERE s.{in_runs}",
        [first - _CLOCK_MARGIN],
    )


def _compute(
    cursor: duckdb.DuckDBPyConnection,
    filters: RunFilters,
    bucket: str | None,
    top_tools: int,
    search: SearchIndex | None,
) -> dict[str, Any]:
    """Every figure, read in the caller's snapshot."""

    def read() -> dict[str, Any]:
        found = search_where(cursor, search, filters) if search is not None else None
        where, params = found or where_clause(filters)
        runs_cte = f"WITH runs AS (SELECT * FROM agent_runs r WHERE {where})"
        cursor.execute(
            f"""{runs_cte}
            SELECT count(*),
                   count(*) FILTER (WHERE status IN {ERROR_STATUSES}),
                   count(*) FILTER (WHERE status <> '{RunStatus.RUNNING}'),
                   quantile_cont(duration_ms, [0.5, 0.95]), max(duration_ms),
                   avg(total_steps), quantile_cont(total_steps, [0.5, 0.95]), max(total_steps),
                   sum(input_tokens), sum(output_tokens),
                   min(started_at), max(started_at), bool_or(started_at IS NULL)
            FROM runs""",
            params,
        )
        row = cursor.fetchone() or (0,) * 13
        (total, errors, ended, dq, dmax, savg, sq, smax, tin, tout, first, last, undated) = row
        d50, d95 = dq or (None, None)  # one sort gives both percentiles
        s50, s95 = sq or (None, None)
        chosen = bucket or choose_bucket(filters.since or first, filters.until or last)

        cursor.execute(
            f"""{runs_cte}
            SELECT GROUPING(status), GROUPING(source), GROUPING(model),
                   status, source, model, agent_name, count(*)
            FROM (SELECT status, source, coalesce(model_used, model_requested) AS model,
                         agent_name FROM runs)
            GROUP BY GROUPING SETS ((status), (source), (model), (agent_name))""",
            params,
        )
        by_status: dict[str, int] = {}
        by_source: dict[str, int] = {}
        by_model: dict[str, int] = {}
        by_agent: dict[str, int] = {}
        for g_status, g_source, g_model, status, source, model, agent, count in cursor.fetchall():
            if not g_status:
                by_status[status or UNKNOWN] = int(count)
            elif not g_source:
                by_source[source or UNKNOWN] = int(count)
            elif not g_model:
                by_model[model or UNKNOWN] = int(count)
            else:
                by_agent[agent or UNKNOWN] = int(count)

        cursor.execute(
            f"""{runs_cte}
            SELECT date_trunc(?, started_at) AS bucket, status, count(*)
            FROM runs WHERE started_at IS NOT NULL
            GROUP BY ALL ORDER BY bucket, status""",
            [*params, chosen],
        )
        over_time = [
            {"bucket": iso_utc(b), "status": s, "runs": int(n)} for b, s, n in cursor.fetchall()
        ]

        steps, steps_params = _tool_steps(where, first, bool(undated))
        cursor.execute(
            f"""{runs_cte}
            SELECT s.tool_name, count(*) AS calls,
                   count(*) FILTER (WHERE s.status = 'error') AS errors,
                   quantile_cont(s.duration_ms, 0.95)
            FROM {steps}
            GROUP BY s.tool_name ORDER BY calls DESC, s.tool_name LIMIT ?""",
            [*params, *steps_params, top_tools],
        )
        tools = [
            {
                "tool_name": name,
                "calls": int(calls),
                "errors": int(errs),
                "error_rate": _rate(errs, calls),
                "p95_duration_ms": _num(p95),
            }
            for name, calls, errs, p95 in cursor.fetchall()
        ]
        return {
            "total_runs": int(total or 0),
            "by_status": by_status,
            "by_source": by_source,
            "by_model": by_model,
            "by_agent": by_agent,
            "bucket": chosen,
            "runs_over_time": over_time,
            "duration_ms": {"p50": _num(d50), "p95": _num(d95), "max": _num(dmax)},
            "error_rate": _rate(errors, ended),
            "ended_runs": int(ended or 0),
            "steps_per_run": {
                "avg": _num(savg),
                "p50": _num(s50),
                "p95": _num(s95),
                "max": _num(smax),
            },
            "top_tools": tools,
            "tokens": {"input": int(tin or 0), "output": int(tout or 0)},
        }

    return read()
