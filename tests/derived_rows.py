"""Every run and step a collector derived for some traces, all derived columns, in a
stable order: what tests compare between two deliveries of the same spans."""

from __future__ import annotations

from typing import Any

from tests.conftest import CollectorHandle
from tests.support import wait_until

__all__ = ["derived_rows"]

# What depends on the time of arrival, not on the spans.
_RUN_EXCLUDED = "updated_at, last_activity_at"


def derived_rows(
    handle: CollectorHandle, traces: list[str], timeout_s: float = 120.0
) -> tuple[list[Any], list[Any]]:
    """The runs and steps of ``traces`` once every acknowledged request is applied (a
    loaded machine's writer can be far behind: ``timeout_s``)."""
    wait_until(handle.store.await_applied, timeout_s=timeout_s, what="every request applied")
    runs = handle.query(
        f"SELECT * EXCLUDE ({_RUN_EXCLUDED}) FROM agent_runs "
        "WHERE trace_id IN (SELECT unnest(?)) ORDER BY id",
        [traces],
    )
    steps = handle.query(
        "SELECT * FROM agent_steps WHERE trace_id IN (SELECT unnest(?)) ORDER BY id", [traces]
    )
    return runs, steps
