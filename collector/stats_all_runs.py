"""Stats over every run of a big store: older runs' figures kept folded, the newest read now.

The plain computation (collector/query_stats.py) reads every run and every tool
step: ~0.5 s at 1M runs. Here the runs that started before a bound a few
minutes behind the newest start, on a 10-minute grid, and have ended (a status
other than running; the *sealed* runs), are folded once into additive figures
(counts, sums, maxima, counts per value or per duration bucket). The writer
bumps ``updated_at`` whenever a run or one of its steps changes; the fold keeps
a watermark, an ``updated_at`` at or after every folded run's. Each call reads,
in its own snapshot:

- whether the folded runs are still what was folded: the number and the sum of
  ``updated_at`` of the ended runs before the bound updated at or before the
  watermark (a folded run that changes moves past it; retention and stand-in
  clean-up lower the number). Any difference and every run is folded again
  (a folded run's own figures are not kept to be taken out: a late span of a
  run that ended before the bound still costs a whole fold);
- the ended runs before the new bound that are not among those: runs the bound
  passed and runs that ended since, however long before they started. Only these
  are read and added to the fold;
- the runs after the bound, any with no start time and any not ended yet,
  whenever they started, and their tool steps (from the earliest start among
  them). An agent run committing steps for hours is read as rows, never folded
  until it ends;
- the number of steps naming a run, which must equal the steps of the folded
  runs plus those of the newest ones. A step more than an hour before its run's
  start (the clock margin of collector/query_stats.py) or whose run is not
  stored is in neither; then the plain computation answers.

So every answer is of the snapshot it is read in, never a kept one. Counts,
breakdowns, token sums, maxima, first and last start, the average and the
percentiles of steps per run (exact counts per value) are the plain
computation's figures. The run duration's p50/p95 and each tool's p95 come
from log buckets (collector/duration_buckets.py): within 0.5% of the exact
figure. (Reading the exact values of the two buckets that hold a percentile's
ranks made the run duration exact, but cost a scan of the column, ~15-25 ms of
CPU at 1M runs, half the budget of a stats call; not kept.)
"""

from __future__ import annotations

import threading
from bisect import insort
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from collector.duration_buckets import (
    Bucket,
    RankedCounts,
    bucket_of,
    bucket_sql,
    exact_quantile_cont,
    ordered_counts,
    quantile_cont_with,
)
from collector.query_snapshot import newest
from collector.serialize import iso_utc
from instrumentation.attributes import RunStatus

__all__ = ["AllRunsStats", "MIN_RUNS"]

# Below this many runs the plain computation is fast and exact: it answers.
MIN_RUNS = 100_000
# The bound trails the newest start by this much, so runs still arriving are read, not folded.
LAG = timedelta(minutes=5)
# ... on a 10-minute grid, so that a fold (two more statements) happens once in 10 minutes,
# not at every call while runs arrive.
STEP_MINUTES = 10
# Steps start after their run: the same margin as collector/query_stats.py.
CLOCK_MARGIN = timedelta(hours=1)
# Databases folded at once in one process (a collector has one; tests open many).
_DATABASES = 4
ERROR_STATUSES = (RunStatus.FAILED.value, RunStatus.LOST.value)
# Runs with an end status; the others (running, or no status yet) are read as rows, never folded.
_ENDED = f"(status IS NOT NULL AND status <> '{RunStatus.RUNNING.value}')"
# The watermark before any fold: no run's updated_at is at or before it.
_NOTHING_SEEN = datetime.min
UNKNOWN = "unknown"


@dataclass
class _Tool:
    calls: int = 0
    errors: int = 0
    durations: Counter[Bucket] = field(default_factory=Counter)


@dataclass
class Figures:
    """Additive figures of a set of runs and their tool steps."""

    # (status, source, model, agent_name) -> runs
    cube: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    # (hour, status) -> runs with a start time
    over_time: Counter[tuple[datetime, Any]] = field(default_factory=Counter)
    durations: Counter[Bucket] = field(default_factory=Counter)
    steps: Counter[int] = field(default_factory=Counter)  # total_steps -> runs
    tools: dict[str, _Tool] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    steps_sum: int = 0
    steps_counted: int = 0
    duration_max: float | None = None
    steps_max: int | None = None
    first: datetime | None = None
    last: datetime | None = None
    undated: int = 0
    step_rows: int = 0  # every step of these runs, tool or not

    def add(self, other: Figures) -> None:
        self.cube.update(other.cube)
        self.over_time.update(other.over_time)
        self.durations.update(other.durations)
        self.steps.update(other.steps)
        for name, tool in other.tools.items():
            mine = self.tools.setdefault(name, _Tool())
            mine.calls += tool.calls
            mine.errors += tool.errors
            mine.durations.update(tool.durations)
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.steps_sum += other.steps_sum
        self.steps_counted += other.steps_counted
        self.duration_max = _pick(max, self.duration_max, other.duration_max)
        self.steps_max = _pick(max, self.steps_max, other.steps_max)
        self.first = _pick(min, self.first, other.first)
        self.last = _pick(max, self.last, other.last)
        self.undated += other.undated
        self.step_rows += other.step_rows


_SCALARS = (
    "tokens_in",
    "tokens_out",
    "steps_sum",
    "steps_counted",
    "duration_max",
    "steps_max",
    "first",
    "last",
    "undated",
)


def _pick(choose: Any, a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else choose(a, b)


@dataclass
class _Sealed:
    below: datetime  # runs started before this and ended are folded into ``figures``
    runs: int  # what was folded: the number of those runs ...
    updates: int  # ... the sum of their updated_at in µs ...
    seen: datetime  # ... and a bound on it: a run updated later was not folded as it is now
    figures: Figures
    steps_bounded: bool  # some steps were read from CLOCK_MARGIN before their runs only
    totals: _Totals | None = None  # of ``figures``, summed at the first answer after a change


@dataclass
class _Totals:
    """A part's counters summed as the answer shows them.

    The folded part's are kept until its figures change: summing its thousands of
    (status, source, model, agent) and (hour, status) counts again at every call
    cost more than the rest of the answer.
    """

    by_status: Counter[str]
    by_source: Counter[str]
    by_model: Counter[str]
    by_agent: Counter[str]
    errors: int
    ended: int
    calls: Counter[str]  # tool -> calls
    durations: RankedCounts  # the runs' duration buckets, in order of value
    tool_durations: dict[str, RankedCounts]  # the same per tool
    # bucket ("hour" / "day") -> the answer's runs_over_time rows, filled when first asked
    over_time: dict[str, _TimeRows] = field(default_factory=dict)

    def runs_over_time(self, figures: Figures, bucket: str) -> _TimeRows:
        if bucket not in self.over_time:
            self.over_time[bucket] = _TimeRows.of(_by_bucket(figures, bucket))
        return self.over_time[bucket]


TimeKey = tuple[datetime, Any]  # (moment, status)


def _by_bucket(figures: Figures, bucket: str) -> Counter[TimeKey]:
    counts: Counter[TimeKey] = Counter()
    for (hour, status), n in figures.over_time.items():
        counts[(hour.replace(hour=0) if bucket == "day" else hour, status)] += n
    return counts


def _time_order(key: TimeKey) -> tuple[Any, ...]:
    moment, status = key
    return moment, status is None, status or ""  # as ORDER BY bucket, status (NULLS LAST)


@dataclass
class _TimeRows:
    """The folded part's runs per (moment, status), in the answer's order, text made.

    At 1M runs over a month they are thousands of rows: sorting them and writing
    each time as text again at every call cost more than the rest of the answer.
    The newest runs' few counts are merged in instead.
    """

    rows: list[tuple[tuple[Any, ...], str | None, Any, int]]  # (order, time text, status, runs)
    at: dict[TimeKey, int]  # where each (moment, status) is in ``rows``

    @classmethod
    def of(cls, counts: Counter[TimeKey]) -> _TimeRows:
        keys = sorted((k for k, n in counts.items() if n > 0), key=_time_order)
        return cls(
            [(_time_order(k), iso_utc(k[0]), k[1], counts[k]) for k in keys],
            {k: n for n, k in enumerate(keys)},
        )

    def with_counts(self, more: Counter[TimeKey]) -> list[dict[str, Any]]:
        """The rows with ``more`` added, as the answer lists them."""
        rows = self.rows
        if more:
            rows = list(rows)
            added = []
            for key, n in more.items():
                if n <= 0:
                    continue
                at = self.at.get(key)
                if at is None:
                    added.append((_time_order(key), iso_utc(key[0]), key[1], n))
                else:
                    order, text, status, runs = rows[at]
                    rows[at] = (order, text, status, runs + n)
            for row in added:
                insort(rows, row)
        return [{"bucket": text, "status": status, "runs": n} for _, text, status, n in rows]


def _totals(figures: Figures) -> _Totals:
    totals = _Totals(
        Counter(),
        Counter(),
        Counter(),
        Counter(),
        0,
        0,
        Counter(),
        RankedCounts.of(ordered_counts(figures.durations)),
        {
            name: RankedCounts.of(ordered_counts(tool.durations))
            for name, tool in figures.tools.items()
        },
    )
    for (status, source, model, agent), n in figures.cube.items():
        totals.errors += n if status in ERROR_STATUSES else 0
        totals.ended += n if status is not None and status != RunStatus.RUNNING else 0
        totals.by_status[status or UNKNOWN] += n
        totals.by_source[source or UNKNOWN] += n
        totals.by_model[model or UNKNOWN] += n
        totals.by_agent[agent or UNKNOWN] += n
    totals.calls.update({name: tool.calls for name, tool in figures.tools.items()})
    return totals


class AllRunsStats:
    """The stats of every run, for stores of at least ``min_runs`` runs (else None)."""

    def __init__(self, *, min_runs: int = MIN_RUNS, lag: timedelta = LAG) -> None:
        self.min_runs = min_runs
        self.lag = lag
        self._sealed: dict[Hashable, _Sealed] = {}
        self._lock = threading.Lock()
        self.folds = 0  # folds of every run (the first, and after a folded run changed)

    def clear(self) -> None:
        with self._lock:
            self._sealed.clear()

    def answer(
        self,
        cursor: duckdb.DuckDBPyConnection,
        key: Hashable,
        bucket: str | None,
        top_tools: int,
    ) -> dict[str, Any] | None:
        """The stats object (collector/query_stats.py's shape), read in the caller's snapshot.

        None when the store is small or some tool steps are outside what is read.
        """
        newest_start = newest(cursor, "agent_runs", "started_at")
        with self._lock:  # one fold at a time per process
            kept = self._sealed.get(key)
            bound = _on_grid(newest_start - self.lag) if newest_start is not None else None
            if bound is None or (kept is not None and bound < kept.below):
                bound = kept.below if kept is not None else datetime.min
            checked = kept.below if kept is not None else bound
            seen = kept.seen if kept is not None else _NOTHING_SEEN
            now = _check(cursor, checked, bound, seen)
            if now.total < self.min_runs:
                return None
            if kept is None or (now.kept_runs, now.kept_updates) != (kept.runs, kept.updates):
                kept = self._fold_all(cursor, key, bound, now, seen)
            elif now.fresh_runs or bound > kept.below:
                if now.fresh_runs:
                    fresh = _fresh(bound, checked, seen)
                    kept.figures.add(_read(cursor, fresh, now.fresh_oldest))
                kept.below, kept.runs = bound, kept.runs + now.fresh_runs
                kept.updates += now.fresh_updates
                kept.seen = max(seen, now.fresh_newest)
                kept.steps_bounded = True
                kept.totals = None
            recent = _read_recent(cursor, bound, now.open_oldest)
            steps = _steps_with_a_run(cursor)
            if kept.figures.step_rows + recent.step_rows != steps and kept.steps_bounded:
                kept = self._fold_all(cursor, key, bound, now, seen)
            if kept.figures.step_rows + recent.step_rows != steps:
                return None
            if kept.totals is None:
                kept.totals = _totals(kept.figures)
            return _answer(kept.figures, kept.totals, recent, bucket, top_tools)

    def _fold_all(
        self,
        cursor: duckdb.DuckDBPyConnection,
        key: Hashable,
        bound: datetime,
        now: _Check,
        seen: datetime,
    ) -> _Sealed:
        self.folds += 1
        sealed = _Sealed(
            bound,
            now.kept_runs + now.fresh_runs,
            now.kept_updates + now.fresh_updates,
            max(seen, now.fresh_newest),  # the kept runs' updated_at are at most ``seen``
            _read(cursor, _ended_before(bound), None),
            False,
        )
        self._sealed.pop(key, None)
        self._sealed[key] = sealed
        while len(self._sealed) > _DATABASES:  # the one folded longest ago goes first
            self._sealed.pop(next(iter(self._sealed)))
        return sealed


def _on_grid(moment: datetime) -> datetime:
    return moment.replace(
        minute=moment.minute - moment.minute % STEP_MINUTES, second=0, microsecond=0
    )


@dataclass
class _Check:
    total: int  # every run
    kept_runs: int  # ended runs before the kept bound not changed since the fold ...
    kept_updates: int  # ... and the sum of their updated_at in µs
    fresh_runs: int  # the other ended runs before the new bound: to fold in now ...
    fresh_updates: int
    fresh_newest: datetime  # ... their largest updated_at ...
    fresh_oldest: datetime | None  # ... and their first start
    open_oldest: datetime | None  # the first start of the runs not ended before the new bound


def _check(
    cursor: duckdb.DuckDBPyConnection, then: datetime, now: datetime, seen: datetime
) -> _Check:
    """What was folded (runs ended before ``then``, updated at ``seen`` or before) as it is now;
    the ended runs before ``now`` that are not among those; where the open runs begin.

    A folded run that changes gets a later updated_at: it leaves the first set (a
    fold again). A run that ends later, whenever it started, is in the second.
    """
    # Every run before ``then`` (one filter, as cheap as a count), less the few that are
    # not folded: updated after ``seen``, or not ended. Those, and the runs from ``then``
    # to ``now``, are read through the zone maps of updated_at, status (every end status
    # sorts before 'running') and started_at: conditions on the whole set cost twice
    # as much at 1M runs.
    row = cursor.execute(
        """SELECT (SELECT count(*) FROM agent_runs), count(*),
                  coalesce(sum(epoch_us(updated_at)), 0)
           FROM agent_runs WHERE started_at < $1""",
        [then],
    ).fetchone()
    assert row is not None
    total, kept_runs, kept_updates = int(row[0]), int(row[1]), int(row[2])
    parts = cursor.execute(
        f"""WITH few AS (
                SELECT started_at, updated_at, {_ENDED} AS ended FROM agent_runs
                WHERE started_at < $2 AND updated_at > $3
                UNION ALL
                SELECT started_at, updated_at, false FROM agent_runs
                WHERE started_at < $2 AND updated_at <= $3 AND NOT {_ENDED}
                UNION ALL
                SELECT started_at, updated_at, true FROM agent_runs
                WHERE started_at >= $1 AND started_at < $2 AND updated_at <= $3 AND {_ENDED})
            SELECT started_at < $1 AND (updated_at > $3 OR NOT ended), ended, count(*),
                   coalesce(sum(epoch_us(updated_at)), 0), max(updated_at), min(started_at)
            FROM few GROUP BY ALL""",
        [then, now, seen],
    ).fetchall()
    fresh_runs = fresh_updates = 0
    fresh_newest, fresh_oldest, open_oldest = seen, None, None
    for counted_before, ended, runs, updates, newest_update, oldest in parts:
        if counted_before:  # in the first count, not folded
            kept_runs -= int(runs)
            kept_updates -= int(updates)
        if ended:
            fresh_runs += int(runs)
            fresh_updates += int(updates)
            fresh_newest = max(fresh_newest, newest_update)
            fresh_oldest = _pick(min, fresh_oldest, oldest)
        else:
            open_oldest = _pick(min, open_oldest, oldest)
    return _Check(
        total,
        kept_runs,
        kept_updates,
        fresh_runs,
        fresh_updates,
        fresh_newest,
        fresh_oldest,
        open_oldest,
    )


def _steps_with_a_run(cursor: duckdb.DuckDBPyConnection) -> int:
    """Steps naming a run: every step less those with no run.

    ``count(agent_run_id)`` reads the column's validity over every step once rows
    were added since the statistics were last exact (~30 ms of CPU at 7.5M
    steps); ``count(*)`` reads row counts only, and the steps with no run are read
    only in the row groups whose statistics say they hold one (~3 ms).
    """
    row = cursor.execute(
        "SELECT count(*) - (SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL) "
        "FROM agent_steps"
    ).fetchone()
    return int(row[0]) if row else 0


Slice = tuple[str, list[Any]]

_DURATION_BUCKET = bucket_sql("duration_ms", "sign", "bucket")
# GROUPING(status, source, model, agent_name, hour, sign, bucket, total_steps) of each set.
_BY_CUBE = 0b00001111
_BY_HOUR = 0b01110111
_BY_DURATION = 0b11111001


def _ended_before(high: datetime) -> Slice:
    return f"SELECT * FROM agent_runs WHERE started_at < ? AND {_ENDED}", [high]


def _fresh(high: datetime, then: datetime, seen: datetime) -> Slice:
    """The ended runs before ``high`` not folded yet (see :func:`_check`)."""
    return (
        f"SELECT * FROM agent_runs WHERE started_at < ? AND {_ENDED} "
        "AND NOT (started_at < ? AND updated_at <= ?)",
        [high, then, seen],
    )


def _from(low: datetime, any_open: bool) -> Slice:
    """The runs from ``low``, those with no start, and (``any_open``) those before it not ended."""
    # Separate scans rather than an OR, which would read every row group.
    sql = (
        "SELECT * FROM agent_runs WHERE started_at >= ? "
        "UNION ALL SELECT * FROM agent_runs WHERE started_at IS NULL"
    )
    if not any_open:  # the check found none in this snapshot: a scan saved
        return sql, [low]
    return f"{sql} UNION ALL SELECT * FROM agent_runs WHERE started_at < ? AND NOT {_ENDED}", [
        low,
        low,
    ]


def _read(cursor: duckdb.DuckDBPyConnection, runs: Slice, steps_from: datetime | None) -> Figures:
    """The figures of the runs ``runs`` selects and of their tool steps.

    With ``steps_from``, steps are read from CLOCK_MARGIN before it (DuckDB skips
    older row groups), plus steps with no start; the steps of runs with no start
    are read whenever they started.
    """
    figures = _runs_in_sql(cursor, runs)
    _add_steps(cursor, figures, runs, steps_from)
    return figures


# The runs after the bound are few (minutes of runs): their rows are summed here,
# which costs less than planning and running the grouping-sets statement for them
# (at 1M runs, most of what a call spent on them). Past this many, SQL sums them.
_ROWS_SUMMED_HERE = 5000
_RUN_FIELDS = (
    "status, source, coalesce(model_used, model_requested) AS model, agent_name, started_at, "
    "duration_ms, total_steps, input_tokens, output_tokens"
)


def _read_recent(
    cursor: duckdb.DuckDBPyConnection, bound: datetime, open_oldest: datetime | None
) -> Figures:
    """:func:`_read` of the runs :func:`_from` ``bound`` selects.

    Their steps are read from the first start among them (``open_oldest``, of
    the runs before ``bound`` not ended) when that is earlier.
    """
    runs = _from(bound, open_oldest is not None)
    steps_from = bound if open_oldest is None else min(bound, open_oldest)
    where, params = runs
    rows = cursor.execute(
        f"SELECT {_RUN_FIELDS} FROM ({where}) LIMIT ?", [*params, _ROWS_SUMMED_HERE + 1]
    ).fetchall()
    if len(rows) > _ROWS_SUMMED_HERE:
        return _read(cursor, runs, steps_from)
    figures = _runs_in_python(rows)
    _add_steps(cursor, figures, runs, steps_from)
    return figures


def _runs_in_python(rows: list[tuple[Any, ...]]) -> Figures:
    """The runs' figures from their rows (``_RUN_FIELDS``), as :func:`_runs_in_sql` sums them."""
    figures = Figures()
    cube, over_time, durations, steps = (
        figures.cube,
        figures.over_time,
        figures.durations,
        figures.steps,
    )
    for status, source, model, agent, started, duration, total, tokens_in, tokens_out in rows:
        cube[(status, source, model, agent)] += 1
        if started is None:
            figures.undated += 1
        else:
            over_time[(started.replace(minute=0, second=0, microsecond=0), status)] += 1
            figures.first = _pick(min, figures.first, started)
            figures.last = _pick(max, figures.last, started)
        if duration is not None:
            durations[bucket_of(duration)] += 1
            figures.duration_max = _pick(max, figures.duration_max, duration)
        if total is not None:
            steps[total] += 1
            figures.steps_sum += total
            figures.steps_counted += 1
            figures.steps_max = _pick(max, figures.steps_max, total)
        figures.tokens_in += tokens_in or 0
        figures.tokens_out += tokens_out or 0
    return figures


def _runs_in_sql(cursor: duckdb.DuckDBPyConnection, runs: Slice) -> Figures:
    """The figures of the runs ``runs`` selects, summed by one grouping-sets statement."""
    where, params = runs
    figures = Figures()
    # One scan, four groupings: the cube, runs per hour and status, duration buckets,
    # runs per step count. GROUPING() tells them apart (a bit set per column left out).
    cursor.execute(
        f"""WITH r AS (
                SELECT status, source, coalesce(model_used, model_requested) AS model, agent_name,
                       date_trunc('hour', started_at) AS hour, {_DURATION_BUCKET},
                       total_steps, input_tokens, output_tokens, duration_ms, started_at
                FROM ({where}))
            SELECT GROUPING(status, source, model, agent_name, hour, sign, bucket, total_steps),
                   status, source, model, agent_name, hour, sign, bucket, total_steps, count(*),
                   sum(input_tokens), sum(output_tokens), sum(total_steps), count(total_steps),
                   max(duration_ms), max(total_steps), min(started_at), max(started_at),
                   count(*) FILTER (WHERE started_at IS NULL)
            FROM r GROUP BY GROUPING SETS (
                (status, source, model, agent_name), (hour, status), (sign, bucket),
                (total_steps))""",
        params,
    )
    for (
        grouping,
        status,
        source,
        model,
        agent,
        hour,
        sign,
        bucket,
        steps,
        n,
        *rest,
    ) in cursor.fetchall():
        if grouping == _BY_CUBE:
            figures.cube[(status, source, model, agent)] += n
            figures.add(
                Figures(
                    tokens_in=int(rest[0] or 0),
                    tokens_out=int(rest[1] or 0),
                    steps_sum=int(rest[2] or 0),
                    steps_counted=int(rest[3]),
                    duration_max=rest[4],
                    steps_max=rest[5],
                    first=rest[6],
                    last=rest[7],
                    undated=int(rest[8]),
                )
            )
        elif grouping == _BY_HOUR:
            if hour is not None:
                figures.over_time[(hour, status)] += n
        elif grouping == _BY_DURATION:
            if sign is not None:
                figures.durations[(sign, bucket)] += n
        elif steps is not None:
            figures.steps[int(steps)] += n
    return figures


def _add_steps(
    cursor: duckdb.DuckDBPyConnection, figures: Figures, runs: Slice, steps_from: datetime | None
) -> None:
    """Add the tool steps of the runs ``runs`` selects to ``figures`` (see :func:`_read`)."""
    where, params = runs
    if steps_from is not None:
        steps_from = max(steps_from, datetime.min + CLOCK_MARGIN)
    in_runs = f"agent_run_id IN (SELECT id FROM ({where}))"
    columns = "SELECT tool_name, status, duration_ms FROM agent_steps"
    if steps_from is None:
        steps_sql, steps_params = f"{columns} WHERE {in_runs}", params
    else:
        parts = [
            (
                f"{columns} WHERE started_at >= ? AND {in_runs}",
                [steps_from - CLOCK_MARGIN, *params],
            ),
            (f"{columns} WHERE started_at IS NULL AND {in_runs}", params),
        ]
        if figures.undated:  # a run with no start: its steps may start whenever
            undated = "agent_run_id IN (SELECT id FROM agent_runs WHERE started_at IS NULL)"
            parts.append(
                (f"{columns} WHERE started_at < ? AND {undated}", [steps_from - CLOCK_MARGIN])
            )
        steps_sql = " UNION ALL ".join(sql for sql, _ in parts)
        steps_params = [p for _, ps in parts for p in ps]
    cursor.execute(
        f"""SELECT tool_name, count(*), count(*) FILTER (WHERE status = 'error'),
                   {bucket_sql("duration_ms")}, count(duration_ms)
            FROM ({steps_sql}) GROUP BY ALL""",
        steps_params,
    )
    for name, calls, errors, sign, index, timed in cursor.fetchall():
        figures.step_rows += int(calls)
        if name is None:
            continue
        tool = figures.tools.setdefault(name, _Tool())
        tool.calls += int(calls)
        tool.errors += int(errors)
        if timed:
            tool.durations[(sign, index)] += int(timed)


_NO_DURATIONS = RankedCounts([], [], [])


def _answer(
    sealed: Figures,
    sealed_totals: _Totals,
    recent: Figures,
    bucket: str | None,
    top_tools: int,
) -> dict[str, Any]:
    """The REST contract's stats object from the two parts (the sealed one left unchanged)."""
    from collector.query_stats import _num, _rate, choose_bucket

    parts = (sealed, recent)
    recent_totals = _totals(recent)
    by_status = sealed_totals.by_status + recent_totals.by_status
    by_source = sealed_totals.by_source + recent_totals.by_source
    by_model = sealed_totals.by_model + recent_totals.by_model
    by_agent = sealed_totals.by_agent + recent_totals.by_agent
    errors = sealed_totals.errors + recent_totals.errors
    ended = sealed_totals.ended + recent_totals.ended
    total = sum(by_status.values())
    # The scalars only: the counters of the folded part are not copied.
    whole = Figures()
    for part in parts:
        whole.add(Figures(**{k: getattr(part, k) for k in _SCALARS}))

    chosen = bucket or choose_bucket(whole.first, whole.last)
    over_time = sealed_totals.runs_over_time(sealed, chosen).with_counts(_by_bucket(recent, chosen))
    d50, d95 = quantile_cont_with(sealed_totals.durations, recent.durations, (0.5, 0.95))
    s50, s95 = exact_quantile_cont(sealed.steps + recent.steps, (0.5, 0.95))
    calls = sealed_totals.calls + recent_totals.calls
    ranked = sorted((name for name in calls if calls[name]), key=lambda t: (-calls[t], t))
    tools = []
    for name in ranked[:top_tools]:
        mine = [part.tools[name] for part in parts if name in part.tools]
        errs = sum(t.errors for t in mine)
        more = recent.tools[name].durations if name in recent.tools else Counter()
        kept = sealed_totals.tool_durations.get(name, _NO_DURATIONS)
        p95 = quantile_cont_with(kept, more, (0.95,))[0]
        tools.append(
            {
                "tool_name": name,
                "calls": calls[name],
                "errors": errs,
                "error_rate": _rate(errs, calls[name]),
                "p95_duration_ms": _num(p95),
            }
        )
    average = whole.steps_sum / whole.steps_counted if whole.steps_counted else None
    return {
        "total_runs": total,
        "by_status": dict(by_status),
        "by_source": dict(by_source),
        "by_model": dict(by_model),
        "by_agent": dict(by_agent),
        "bucket": chosen,
        "runs_over_time": over_time,
        "duration_ms": {"p50": _num(d50), "p95": _num(d95), "max": _num(whole.duration_max)},
        "error_rate": _rate(errors, ended),
        "ended_runs": ended,
        "steps_per_run": {
            "avg": _num(average),
            "p50": _num(s50),
            "p95": _num(s95),
            "max": _num(whole.steps_max),
        },
        "top_tools": tools,
        "tokens": {"input": whole.tokens_in, "output": whole.tokens_out},
    }
