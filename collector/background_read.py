"""A read through the store on a thread of its own (a kept answer's refresh)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import duckdb

from collector.store import RunStore

__all__ = ["read_in_background"]

logger = logging.getLogger(__name__)


def read_in_background(store: RunStore, job: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    """Run ``job`` through ``store.read`` on another thread; returns at once."""

    def run() -> None:
        try:
            store.read(job)
        except Exception:  # the next request computes in the foreground instead
            logger.exception("background read failed")

    threading.Thread(target=run, name="stats-refresh", daemon=True).start()
