"""Tool calls and LLM calls per run, for the runs one API answer shows.

The run list shows them beside the step count; counting them here, by the
``agent_steps`` index on ``agent_run_id``, keeps the dashboard's first paint
off ``/sql`` (whose worker copies the tables on its first query).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

__all__ = ["attach_step_counts", "step_counts"]


def step_counts(
    cursor: duckdb.DuckDBPyConnection, run_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """``(tool_calls, llm_calls)`` of each run among ``run_ids`` that has steps."""
    if not run_ids:
        return {}
    # A literal list (not a joined unnest) lets DuckDB look each id up in the index.
    marks = ", ".join("?" * len(run_ids))
    rows = cursor.execute(
        "SELECT agent_run_id, count(*) FILTER (WHERE action_type = 'tool_call'), "
        "count(*) FILTER (WHERE action_type = 'think') FROM agent_steps "
        f"WHERE agent_run_id IN ({marks}) GROUP BY agent_run_id",
        list(run_ids),
    ).fetchall()
    return {str(run_id): (int(tools), int(llm)) for run_id, tools, llm in rows}


def attach_step_counts(cursor: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]]) -> None:
    """Set ``tool_calls`` and ``llm_calls`` on each run in place (0 for a run without steps)."""
    counts = step_counts(cursor, [str(r.get("id")) for r in runs])
    for run in runs:
        run["tool_calls"], run["llm_calls"] = counts.get(str(run.get("id")), (0, 0))
