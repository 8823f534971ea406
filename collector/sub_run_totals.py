"""What a run came to with the runs it started: its sub-agents', at any depth.

A run that only runs other agents (an ADK ``SequentialAgent``, a LangGraph graph,
an AutoGen team, a Strands swarm) keeps its own tokens and cost, and each sub-run
carries its own, so ``/stats`` and ``/agent/costs`` count every token once. The
run page adds the sub-runs up here for the person reading it.

Sub-runs share their parent's trace (collector/run_links.py) and start while it
runs, so they are read by trace id within the run's time window: the files'
min/max statistics of ``started_at`` leave a few row groups to scan (3 ms at 1M
runs, against 11 ms by trace id alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb

from collector.query_snapshot import fetch_dicts, parse_iso
from collector.serialize import json_value

__all__ = ["sub_runs_of", "totals_of"]

# Sub-agents on other hosts may start a little before their parent by its clock.
_CLOCK_MARGIN = timedelta(minutes=5)
_SELECT = """
    SELECT id, parent_run_id, status, started_at, model_used, model_requested, provider,
           input_tokens, output_tokens
    FROM agent_runs
    WHERE trace_id = ? AND started_at BETWEEN ? AND ?
"""


def sub_runs_of(
    cursor: duckdb.DuckDBPyConnection, run: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """The runs nested in ``run`` (a run page's row), at any depth, as raw rows."""
    trace_id, started = run.get("trace_id"), parse_iso(run.get("started_at"))
    if not trace_id or started is None:
        return []
    ended = parse_iso(run.get("completed_at")) or now
    rows = fetch_dicts(
        cursor, _SELECT, [trace_id, started - _CLOCK_MARGIN, max(ended, started) + _CLOCK_MARGIN]
    )
    children: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["parent_run_id"] is not None:
            children.setdefault(str(row["parent_run_id"]), []).append(row)
    found: list[dict[str, Any]] = []
    seen = {str(run.get("id"))}
    waiting = [str(run.get("id"))]
    while waiting:
        for child in children.get(waiting.pop(), []):
            child_id = str(child["id"])
            if child_id not in seen:  # a cycle of parents is bad data, not a loop
                seen.add(child_id)
                found.append(child)
                waiting.append(child_id)
    return found


def totals_of(sub_runs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Runs, failures, tokens and cost of ``sub_runs`` (each costed); None when there are none.

    ``cost_usd`` sums the sub-runs whose cost is known (None when none is);
    ``unpriced_runs`` counts those with tokens but no price.
    """
    if not sub_runs:
        return None
    costs = [r.get("cost_usd") for r in sub_runs]
    known = [float(c) for c in costs if c is not None]
    tokens = [(r.get("input_tokens"), r.get("output_tokens")) for r in sub_runs]
    return {
        "runs": len(sub_runs),
        "failed": sum(1 for r in sub_runs if r.get("status") == "failed"),
        "running": sum(1 for r in sub_runs if r.get("status") == "running"),
        "input_tokens": sum(int(i or 0) for i, _ in tokens),
        "output_tokens": sum(int(o or 0) for _, o in tokens),
        "cost_usd": json_value(sum(known)) if known else None,
        "unpriced_runs": sum(
            1 for (i, o), cost in zip(tokens, costs, strict=True) if cost is None and (i or o)
        ),
    }
