"""Waiting on a condition with a deadline, shared by the benchmarks and the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["poll_until"]

T = TypeVar("T")
_pause = threading.Event()  # never set: its wait() is a pause that needs no sleep call


def poll_until(condition: Callable[[], T], *, timeout_s: float, interval_s: float = 0.02) -> T:
    """Poll ``condition`` until it is truthy or the deadline passes; return its last value.

    The one place the tests pause: every wait goes through here (or wait_until).
    """
    deadline = time.monotonic() + timeout_s
    last: T = condition()
    while not last and time.monotonic() <= deadline:
        _pause.wait(interval_s)  # polling interval, not synchronisation
        last = condition()
    return last
