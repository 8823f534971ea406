"""Threads made to switch often: what a loaded collector process does now and then.

Finalizers that release the GIL run inside garbage collections, so another thread can
run in the middle of anything that allocates. Tests of code shared between the writer
and the API threads make that frequent enough to meet within seconds.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["threads_switch_often"]


@contextlib.contextmanager
def threads_switch_often(
    collect_every: int, switch_interval_s: float | None = None
) -> Iterator[None]:
    """Collect garbage every ``collect_every`` allocations, each collection letting another
    thread run; with ``switch_interval_s``, the interpreter's switch interval too."""

    def let_others_run(phase: str, info: dict[str, Any]) -> None:
        time.sleep(0)  # not a wait: releases the GIL, as a finalizer doing I/O does

    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.callbacks.append(let_others_run)
    gc.set_threshold(collect_every)
    if switch_interval_s is not None:
        sys.setswitchinterval(switch_interval_s)
    try:
        yield
    finally:
        gc.callbacks.remove(let_others_run)
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)
