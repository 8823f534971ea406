"""Steps of the collector's wall clock do not decide which runs are lost: silence is what
the monotonic clock measured (collector/clock_steps.py), on a real DuckDB file."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from collector.clock_steps import ClockSteps, shift_silences
from collector.ingest import mark_lost_runs
from collector.schema import migrate

LOST_AFTER_S = 300.0
HOUR = timedelta(hours=1)


class SteppedClock:
    """The system clock at the far edge: wall and monotonic seconds set by the test."""

    def __init__(self) -> None:
        self.wall, self.monotonic = 1_800_000_000.0, 5_000.0

    def advance(self, seconds: float, *, step: float = 0.0) -> None:
        self.wall += seconds + step
        self.monotonic += seconds

    def now(self) -> datetime:
        """The wall clock as the collector stores times: naive UTC."""
        return datetime(1970, 1, 1) + timedelta(seconds=self.wall)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "audit.duckdb"))
    migrate(connection)
    return connection


def _running(con: duckdb.DuckDBPyConnection, run_id: str, last_activity: datetime) -> None:
    con.execute(
        "INSERT INTO agent_runs (id, status, started_at, updated_at, last_activity_at, is_final) "
        "VALUES (?, 'running', ?, ?, ?, false)",
        [run_id, last_activity, last_activity, last_activity],
    )


def _status(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    row = con.execute("SELECT status FROM agent_runs WHERE id = ?", [run_id]).fetchone()
    assert row is not None
    return str(row[0])


def _housekeeping(con: duckdb.DuckDBPyConnection, steps: ClockSteps, now: datetime) -> int:
    """What the writer does on each pass (collector/store_writer.py)."""
    shift_silences(con, steps.step_s(), now)
    steps.applied()
    return mark_lost_runs(con, now, LOST_AFTER_S)


def test_a_clock_stepped_an_hour_forward_marks_no_live_run_lost(
    con: duckdb.DuckDBPyConnection,
) -> None:
    clock = SteppedClock()
    steps = ClockSteps(lambda: clock.wall, lambda: clock.monotonic)
    _running(con, "heard-10s-ago", clock.now() - timedelta(seconds=10))
    _running(con, "silent-for-long", clock.now() - timedelta(seconds=LOST_AFTER_S + 60))
    clock.advance(5, step=HOUR.total_seconds())  # NTP corrects a board without an RTC

    assert _housekeeping(con, steps, clock.now()) == 1
    assert _status(con, "heard-10s-ago") == "running"  # 15 s of silence, not an hour
    assert _status(con, "silent-for-long") == "lost"

    # Silent for real: lost once lost_after_s has passed on the monotonic clock.
    clock.advance(LOST_AFTER_S - 30)
    _housekeeping(con, steps, clock.now())
    assert _status(con, "heard-10s-ago") == "running"
    clock.advance(30)
    _housekeeping(con, steps, clock.now())
    assert _status(con, "heard-10s-ago") == "lost"


def test_without_the_shift_the_step_would_mark_it_lost(con: duckdb.DuckDBPyConnection) -> None:
    # The control: the same step, measured by the wall clock alone.
    clock = SteppedClock()
    _running(con, "heard-10s-ago", clock.now() - timedelta(seconds=10))
    clock.advance(5, step=HOUR.total_seconds())
    assert mark_lost_runs(con, clock.now(), LOST_AFTER_S) == 1


def test_a_clock_set_back_does_not_keep_a_silent_run_running_longer(
    con: duckdb.DuckDBPyConnection,
) -> None:
    clock = SteppedClock()
    steps = ClockSteps(lambda: clock.wall, lambda: clock.monotonic)
    _running(con, "heard-just-now", clock.now())
    clock.advance(5, step=-HOUR.total_seconds())
    _housekeeping(con, steps, clock.now())
    assert _status(con, "heard-just-now") == "running"
    # Lost after lost_after_s more of silence, not after an hour and lost_after_s.
    clock.advance(LOST_AFTER_S + 10)
    assert _housekeeping(con, steps, clock.now()) == 1
    assert _status(con, "heard-just-now") == "lost"


def test_drift_under_a_second_is_not_a_step() -> None:
    clock = SteppedClock()
    steps = ClockSteps(lambda: clock.wall, lambda: clock.monotonic)
    clock.advance(60, step=0.4)
    assert steps.step_s() == 0.0
    clock.advance(60, step=-2.5)
    assert steps.step_s() == -2.5
    assert steps.step_s() == -2.5  # until applied
    steps.applied()
    assert steps.step_s() == 0.0
