"""Every run's stats from folded figures plus the newest rows equal the plain SQL over the rows.

The reference is the plain computation (``run_stats`` with ``all_runs=None``: SQL
over every run and tool step, exact quantiles). The store is filled by the
writer's own functions, commit by commit with the clock moving: runs arriving
whole, steps before their run (a stand-in ``running``, then done), runs starting
long before the others (late arrivals into the folded part), runs marked lost,
retention deleting the oldest traces, and a rederive replacing every derived
row. After each change both answers must agree: exactly, except the duration
percentiles (runs' p50/p95, each tool's p95), within the buckets' relative error.
A run far older than the fold's bound that keeps committing steps, then ends, must
not fold every run again (``AllRunsStats.folds``).
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.workload import WorkloadSpec, generate_requests
from collector.db_open import open_database
from collector.decode import SpanRecord, decode_protobuf
from collector.duration_buckets import RELATIVE_ERROR
from collector.ingest import IngestState, ingest_batch, mark_lost_runs
from collector.mapping import SpanClass, classify
from collector.queries import RunFilters
from collector.query_snapshot import in_snapshot
from collector.query_stats import run_stats
from collector.query_stats_cache import database_key
from collector.rederive import rederive_connection
from collector.retention import apply_retention
from collector.schema import migrate
from collector.stats_all_runs import AllRunsStats
from instrumentation import attributes as A

_BASE = datetime(2026, 9, 21)
_APPROXIMATE = {"duration_ms.p50", "duration_ms.p95", "p95_duration_ms"}


def _requests(seed: int, runs: int, start: datetime, spacing: timedelta) -> list[list[SpanRecord]]:
    spec = WorkloadSpec(
        runs=runs,
        steps=5,
        runs_per_request=10,
        seed=seed,
        result_bytes=(40, 200),
        base_time_ns=int((start - datetime(1970, 1, 1)).total_seconds()) * 10**9,
        run_spacing_ns=int(spacing.total_seconds() * 10**9),
        service_name=f"agent-{seed}",
    )
    return [decode_protobuf(r.body).spans for r in generate_requests(spec)]


def _is_run(span: SpanRecord) -> bool:
    return classify(span) is SpanClass.RUN


def _started(spans: list[SpanRecord], pick: random.Random) -> list[SpanRecord]:
    """The steps, after each run's pending copy (instrumentation/pending.py): runs shown running."""
    copies = []
    for run in filter(_is_run, spans):
        attributes = {
            k: v for k, v in run.attributes.items() if k not in (A.RUN_STATUS, A.RUN_FINAL_ANSWER)
        }
        attributes[A.PENDING] = True
        attributes[A.PENDING_PARENT_ID] = run.span_id
        copies.append(
            dataclasses.replace(
                run,
                span_id=f"{pick.getrandbits(64):016x}",
                parent_span_id=run.span_id,
                end_ns=run.start_ns,
                status_code=0,
                attributes=attributes,
            )
        )
    return copies + [s for s in spans if not _is_run(s)]


class _Store:
    """A store written by the writer's functions, each change its own commit at a later clock."""

    def __init__(self, path: Path) -> None:
        self.con = open_database(path)
        migrate(self.con)
        self.state = IngestState()
        self.now = datetime(2026, 12, 1)
        self.folded = AllRunsStats(min_runs=0, lag=timedelta(hours=2))

    def commit(self, change: Any) -> None:
        self.now += timedelta(seconds=1)
        self.con.execute("BEGIN")
        change(self.con)
        self.con.execute("COMMIT")

    def ingest(self, spans: list[SpanRecord]) -> None:
        self.commit(lambda con: ingest_batch(con, spans, self.state, self.now))

    def folded_answer(self, bucket: str | None, top: int) -> dict[str, Any] | None:
        key = database_key(self.con)
        return in_snapshot(self.con, lambda: self.folded.answer(self.con, key, bucket, top))

    def check(self) -> None:
        for bucket, top in ((None, 10), ("day", 2)):
            plain = run_stats(
                self.con, RunFilters(), bucket=bucket, top_tools=top, cache=None, all_runs=None
            )
            folded = self.folded_answer(bucket, top)
            assert folded is not None, "the folded figures declined to answer"
            _assert_same(folded, plain)
        # And through run_stats' own dispatch, as the API calls it.
        dispatched = run_stats(
            self.con, RunFilters(), bucket="day", top_tools=2, cache=None, all_runs=self.folded
        )
        assert dispatched == folded


def _assert_same(actual: Any, expected: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), path
        for key in expected:
            _assert_same(actual[key], expected[key], f"{path}.{key}".lstrip("."))
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for n, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(a, e, f"{path}[{n}]")
    elif path.rsplit("]", 1)[-1].lstrip(".") in _APPROXIMATE or path in _APPROXIMATE:
        if expected is None:
            assert actual is None, path
        else:
            assert abs(actual - expected) <= RELATIVE_ERROR * abs(expected) + 1e-9, (
                path,
                actual,
                expected,
            )
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-12, abs=1e-12), path
    else:
        assert actual == expected, path


@pytest.mark.parametrize("seed", [3, 17, 29])
def test_folded_stats_equal_the_plain_computation(tmp_path: Path, seed: int) -> None:
    pick = random.Random(seed)
    store = _Store(tmp_path / "stats.duckdb")
    # ~33 hours of runs, 10 minutes apart: the fold's bound (2 h behind the newest) moves on.
    requests = _requests(seed, 200, _BASE, timedelta(minutes=10))
    held: list[SpanRecord] = []
    for spans in requests:
        if pick.random() < 0.3:  # steps first: runs shown running, done one commit later
            store.ingest(_started(spans, pick))
            store.check()
            store.ingest([s for s in spans if _is_run(s)])
        elif pick.random() < 0.15:  # steps only; their runs' spans come at the end
            store.ingest(_started(spans, pick))
            held.extend(s for s in spans if _is_run(s))
        else:
            store.ingest(spans)
        store.check()

    # Runs that started a day before the others: they land in the folded part.
    late = _requests(seed + 1000, 30, _BASE - timedelta(days=1), timedelta(minutes=7))
    for spans in late:
        store.ingest(spans)
    store.check()

    running = store.con.execute("SELECT count(*) FROM agent_runs WHERE status = 'running'")
    assert running.fetchall() != [(0,)]
    # Runs still running are marked lost; then some of their runs arrive after all.
    store.commit(lambda con: mark_lost_runs(con, store.now, 0.0))
    store.check()
    store.ingest(held[: len(held) // 2])
    store.check()

    # Retention removes the traces of runs started before the cut.
    cutoff = _BASE + timedelta(hours=6)
    store.commit(lambda con: apply_retention(con, cutoff, store.now, None))
    assert store.con.execute(
        "SELECT count(*) FROM agent_runs WHERE started_at < ?", [cutoff]
    ).fetchone() == (0,)
    store.check()

    # A rederive replaces every derived row from the stored spans.
    rederive_connection(store.con)
    store.check()
    store.con.close()


def test_small_stores_and_stray_steps_get_the_plain_computation(tmp_path: Path) -> None:
    store = _Store(tmp_path / "stats.duckdb")
    for spans in _requests(5, 40, _BASE, timedelta(minutes=10)):
        store.ingest(spans)
    runs = store.con.execute("SELECT count(*) FROM agent_runs").fetchone()[0]  # type: ignore[index]
    small = AllRunsStats(min_runs=runs + 1)
    answer = in_snapshot(store.con, lambda: small.answer(store.con, "k", None, 10))
    assert answer is None  # below the size where folding pays
    store.check()
    # Steps whose run has not arrived yet (no pending copy): the plain computation counts
    # their tool calls, the fold has no run to put them under.
    later = _requests(6, 10, _BASE + timedelta(days=1), timedelta(minutes=10))[0]
    store.ingest([s for s in later if not _is_run(s)])
    assert store.folded_answer(None, 10) is None
    plain = run_stats(store.con, RunFilters(), cache=None, all_runs=None)
    assert run_stats(store.con, RunFilters(), cache=None, all_runs=store.folded) == plain
    store.ingest([s for s in later if _is_run(s)])  # their runs arrive: the fold answers again
    store.check()
    store.con.close()


def test_a_step_with_no_run_leaves_the_fold_answering(tmp_path: Path) -> None:
    # Neither answer counts a step that names no run; the fold's count of the steps
    # it has read must leave it out too, or every call falls back to the plain SQL.
    store = _Store(tmp_path / "stats.duckdb")
    for spans in _requests(9, 30, _BASE, timedelta(minutes=10)):
        store.ingest(spans)
    store.commit(
        lambda con: con.execute(
            "INSERT INTO agent_steps SELECT * REPLACE (id || '-loose' AS id, "
            "NULL AS agent_run_id) FROM agent_steps WHERE tool_name IS NOT NULL LIMIT 3"
        )
    )
    assert store.con.execute(
        "SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL"
    ).fetchone() == (3,)
    store.check()
    store.con.close()


def test_counts_unchanged_when_nothing_changed(tmp_path: Path) -> None:
    store = _Store(tmp_path / "stats.duckdb")
    for spans in _requests(8, 60, _BASE, timedelta(minutes=30)):
        store.ingest(spans)
    first = run_stats(store.con, RunFilters(), cache=None, all_runs=store.folded)
    again = run_stats(store.con, RunFilters(), cache=None, all_runs=store.folded)
    assert first == again
    assert first["total_runs"] == 60
    store.con.close()


def test_an_old_run_still_running_is_read_not_folded_again(tmp_path: Path) -> None:
    # A run that started hours before the fold's bound keeps committing steps, then ends;
    # then a late step lands on a run that ended long ago. Each answer is the plain
    # SQL's, and the running run's commits never fold every run again.
    store = _Store(tmp_path / "stats.duckdb")
    for spans in _requests(11, 200, _BASE, timedelta(minutes=10)):
        store.ingest(spans)
    store.check()
    folds = store.folded.folds
    assert folds == 1

    spec = WorkloadSpec(
        runs=1,
        steps=12,
        runs_per_request=1,
        seed=12,
        base_time_ns=int((_BASE + timedelta(hours=1) - datetime(1970, 1, 1)).total_seconds())
        * 10**9,
        service_name="agent-long",
    )
    (long_run,) = [decode_protobuf(r.body).spans for r in generate_requests(spec)]
    started = _started(long_run, random.Random(12))
    copies, steps = started[:1], started[1:]
    store.ingest(copies)
    store.check()
    for n in range(0, len(steps), 3):
        store.ingest(steps[n : n + 3])
        store.check()
    assert store.con.execute(
        "SELECT status, total_steps > 0 FROM agent_runs WHERE service_name = 'agent-long'"
    ).fetchall() == [("running", True)]
    store.ingest([s for s in long_run if _is_run(s)])  # it ends: folded as it is now
    assert store.con.execute(
        "SELECT status FROM agent_runs WHERE service_name = 'agent-long'"
    ).fetchall() == [("completed",)]
    store.check()
    store.check()  # read again: what was folded still holds
    assert store.folded.folds == folds

    # A late step of a run that ended a day before: the answers still follow.
    old = next(s for s in _requests(11, 200, _BASE, timedelta(minutes=10))[0] if not _is_run(s))
    late = dataclasses.replace(old, span_id=f"{random.Random(13).getrandbits(64):016x}")
    store.ingest([late])
    store.check()
    store.con.close()
