"""Steps of the collector's own wall clock, kept out of ``lost`` detection.

A run is ``lost`` after ``lost_after_s`` of silence, measured as now minus its
``last_activity_at``, both read from the wall clock. When that clock is stepped
(NTP correcting a board without a real-time clock at boot, an operator setting
the date), the difference stops meaning silence: stepped forward by an hour,
every running run would be marked lost at once though its heartbeats keep
coming; stepped back, runs that really fell silent would wait an hour more.

The writer looks at the wall clock against the monotonic one at every
housekeeping pass (:class:`ClockSteps`), and before marking runs lost moves
the activity of running runs by the step (:func:`shift_silences`), so that
silence is what the monotonic clock measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb

from instrumentation.attributes import RunStatus

__all__ = ["ClockSteps", "shift_silences"]

# NTP slews small differences; a step is what it cannot slew (it steps past 128 ms).
_STEP_S = 1.0


class ClockSteps:
    """How far the wall clock stepped, against the monotonic one, between two looks."""

    def __init__(
        self,
        wall_s: Callable[[], float] = time.time,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall_s, self._monotonic_s = wall_s, monotonic_s
        self._wall, self._monotonic = wall_s(), monotonic_s()
        self._unapplied_s = 0.0

    def step_s(self) -> float:
        """Seconds the wall clock moved more than the monotonic one and not yet
        :meth:`applied` (negative: set back); steps under a second (drift, slewing)
        are not counted."""
        wall, monotonic = self._wall_s(), self._monotonic_s()
        step = (wall - self._wall) - (monotonic - self._monotonic)
        self._wall, self._monotonic = wall, monotonic
        if abs(step) >= _STEP_S:
            self._unapplied_s += step
        return self._unapplied_s

    def applied(self) -> None:
        """The step returned last is accounted for (its transaction committed)."""
        self._unapplied_s = 0.0


def shift_silences(con: duckdb.DuckDBPyConnection, step_s: float, now: datetime) -> int:
    """Keep running runs' silence true to the monotonic clock; returns the runs moved.

    Stepped forward: activity seen before the step (at or before ``now - step``
    by the new clock) moves forward by the step. Any activity later than ``now``
    (the clock was set back, now or while the collector was stopped) is taken as
    seen now, so such a run is lost ``lost_after_s`` from here, not from a time
    that has not come yet.
    """
    moved = 0
    if step_s > 0:
        step = timedelta(seconds=step_s)
        rows = con.execute(
            """
            UPDATE agent_runs SET last_activity_at = last_activity_at + ?
            WHERE status = ? AND NOT is_final AND last_activity_at <= ?
            RETURNING id
            """,
            [step, RunStatus.RUNNING.value, now - step],
        ).fetchall()
        moved += len(rows)
    rows = con.execute(
        """
        UPDATE agent_runs SET last_activity_at = ?
        WHERE status = ? AND NOT is_final AND last_activity_at > ?
        RETURNING id
        """,
        [now, RunStatus.RUNNING.value, now],
    ).fetchall()
    return moved + len(rows)
