"""Stats answers kept by data version: exact while nothing changed, never staler than the bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.annotations import add_annotation
from collector.queries import RunFilters
from collector.query_stats import run_stats
from collector.query_stats_cache import StatsCache
from collector.schema import migrate
from tests.support import wait_until

_START = datetime(2026, 3, 1, 12)


@pytest.fixture
def con(tmp_path: Path) -> Any:
    connection = duckdb.connect(str(tmp_path / "audit.duckdb"))
    connection.execute("SET TimeZone = 'UTC'")
    migrate(connection)
    yield connection
    connection.close()


def _add_runs(con: duckdb.DuckDBPyConnection, first: int, count: int, status: str) -> None:
    for index in range(first, first + count):
        con.execute(
            "INSERT INTO agent_runs (id, task, status, started_at, duration_ms, updated_at) "
            "VALUES (?, 'task', ?, ?, ?, ?)",
            [
                f"run-{index}",
                status,
                _START + timedelta(minutes=index),
                100.0 * index,
                datetime(2026, 3, 2) + timedelta(seconds=index),
            ],
        )


def _stats(con: duckdb.DuckDBPyConnection, cache: StatsCache | None, **filters: Any) -> Any:
    cursor = con.cursor()
    try:
        return run_stats(cursor, RunFilters(**filters), cache=cache)
    finally:
        cursor.close()


def test_a_cheap_answer_follows_every_new_run_exactly(con: duckdb.DuckDBPyConnection) -> None:
    cache = StatsCache()  # a small database: never a stale answer
    for batch in range(4):
        _add_runs(con, batch * 3, 3, "completed" if batch % 2 else "failed")
        cached = _stats(con, cache)
        assert cached == _stats(con, None)
        assert cached["total_runs"] == 3 * (batch + 1)


def test_an_expensive_answer_lags_by_at_most_the_bound(con: duckdb.DuckDBPyConnection) -> None:
    # Every database counts as big here: the kept answer is reused while recent enough.
    cache = StatsCache(stale_from_runs=0, max_stale_s=2.0)
    _add_runs(con, 0, 5, "completed")
    before_first = time.monotonic()
    assert _stats(con, cache)["total_runs"] == 5
    _add_runs(con, 5, 2, "failed")
    lagging = _stats(con, cache)
    if time.monotonic() - before_first < 2.0:  # surely within the bound: the kept answer
        assert lagging["total_runs"] == 5
    fresh = _stats(con, None)
    assert fresh["by_status"] == {"completed": 5, "failed": 2}
    # Past the bound the next call computes: the new runs are in.
    wait_until(lambda: _stats(con, cache) == fresh, timeout_s=5, what="the bound to pass")
    # With no staleness allowed, each change is seen by the next call.
    strict = StatsCache(stale_from_runs=0, max_stale_s=0)
    assert _stats(con, strict)["total_runs"] == 7
    _add_runs(con, 7, 1, "failed")
    assert _stats(con, strict)["total_runs"] == 8


def test_deleted_runs_and_new_annotations_change_the_answer(
    con: duckdb.DuckDBPyConnection,
) -> None:
    cache = StatsCache(stale_from_runs=0, max_stale_s=0)
    _add_runs(con, 0, 4, "completed")
    assert _stats(con, cache)["total_runs"] == 4
    # Retention deletes without touching updated_at of the runs that stay.
    con.execute("DELETE FROM agent_runs WHERE id = 'run-3'")
    assert _stats(con, cache)["total_runs"] == 3
    assert _stats(con, cache, annotation="good")["total_runs"] == 0
    add_annotation(con, "run-1", kind="good", value=None, author="ana", now=datetime(2026, 3, 3))
    assert _stats(con, cache, annotation="good")["total_runs"] == 1


class _Reads:
    """Reads on other threads, each on a new cursor of ``con``, as the API's background reads."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.started = 0
        self.threads: list[threading.Thread] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, job: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
        self.started += 1

        def run() -> None:
            self.gate.wait(10)
            cursor = self.con.cursor()
            try:
                job(cursor)
            finally:
                cursor.close()

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(10)


def _stats_in_background(
    con: duckdb.DuckDBPyConnection, cache: StatsCache, reads: _Reads
) -> dict[str, Any]:
    cursor = con.cursor()
    try:
        return run_stats(cursor, RunFilters(), cache=cache, background=reads)
    finally:
        cursor.close()


def test_a_stale_answer_is_returned_at_once_and_computed_again_behind(
    con: duckdb.DuckDBPyConnection,
) -> None:
    cache = StatsCache(stale_from_runs=0, max_stale_s=0, revalidate_s=60)
    reads = _Reads(con)
    _add_runs(con, 0, 5, "completed")
    assert _stats_in_background(con, cache, reads)["total_runs"] == 5  # nothing kept: computed
    assert reads.started == 0
    _add_runs(con, 5, 2, "failed")
    reads.gate.clear()  # hold the refresh until the calls below have returned
    assert _stats_in_background(con, cache, reads)["total_runs"] == 5  # kept, not waited for
    assert _stats_in_background(con, cache, reads)["total_runs"] == 5
    assert reads.started == 1  # one refresh at a time
    reads.gate.set()
    wait_until(
        lambda: _stats_in_background(con, cache, reads)["total_runs"] == 7,
        timeout_s=10,
        what="the refresh to land",
    )
    reads.join()
    assert reads.started == 1  # the new figures came from that one refresh
    assert _stats_in_background(con, cache, reads) == _stats(con, None)


def test_an_answer_older_than_the_refresh_window_is_computed_in_the_call(
    con: duckdb.DuckDBPyConnection,
) -> None:
    cache = StatsCache(stale_from_runs=0, max_stale_s=0, revalidate_s=0)
    reads = _Reads(con)
    _add_runs(con, 0, 3, "completed")
    assert _stats_in_background(con, cache, reads)["total_runs"] == 3
    _add_runs(con, 3, 1, "failed")
    assert _stats_in_background(con, cache, reads)["total_runs"] == 4
    assert reads.started == 0
