"""``top_tools`` of filtered stats: the selected runs' tool steps, however they are read."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from collector.queries import RunFilters
from collector.query_stats import run_stats
from collector.schema import migrate

DAY = datetime(2026, 3, 1, 12)


def _run(con: duckdb.DuckDBPyConnection, run_id: str, status: str, started: datetime) -> None:
    con.execute(
        "INSERT INTO agent_runs (id, status, started_at, updated_at) VALUES (?, ?, ?, ?)",
        [run_id, status, started, datetime.now()],
    )


def _step(
    con: duckdb.DuckDBPyConnection, run_id: str, n: int, tool: str, started: datetime | None
) -> None:
    con.execute(
        "INSERT INTO agent_steps (id, agent_run_id, step_number, action_type, tool_name, "
        "trace_id, span_id, status, started_at, duration_ms) "
        "VALUES (?, ?, ?, 'tool_call', ?, 't', ?, 'ok', ?, 10)",
        [f"{run_id}-{n}", run_id, n, tool, f"{run_id}-{n}", started],
    )


def _tools(con: duckdb.DuckDBPyConnection, filters: RunFilters) -> dict[str, int]:
    body = run_stats(con, filters, cache=None)
    return {tool["tool_name"]: tool["calls"] for tool in body["top_tools"]}


def test_filtered_top_tools_count_only_the_selected_runs_steps(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "audit.duckdb"))
    migrate(con)
    _run(con, "old", "completed", DAY - timedelta(days=30))
    _step(con, "old", 1, "docker_ps", DAY - timedelta(days=30))
    _step(con, "old", 2, "docker_ps", None)  # no start, another run's: not the new run's
    _run(con, "new", "failed", DAY)
    _step(con, "new", 1, "docker_logs", DAY + timedelta(minutes=1))
    _step(con, "new", 2, "docker_logs", None)  # no start time: still the run's step
    _step(con, "new", 3, "docker_inspect", DAY - timedelta(minutes=30))  # a clock behind
    assert _tools(con, RunFilters()) == {"docker_ps": 2, "docker_logs": 2, "docker_inspect": 1}
    recent = RunFilters(since=DAY - timedelta(days=1))
    assert _tools(con, recent) == {"docker_logs": 2, "docker_inspect": 1}
    # A filter without parameters selects runs too (not every step's tool).
    assert _tools(con, RunFilters(has_error=True)) == {"docker_logs": 2, "docker_inspect": 1}
    assert _tools(con, RunFilters(statuses=("completed",))) == {"docker_ps": 2}
    con.close()
