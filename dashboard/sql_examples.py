"""The SQL page's examples and the editor's first state; pure (the page document's
preview shows the same empty editor: dashboard/preview_pages.py)."""

from __future__ import annotations

__all__ = [
    "EDITOR_LABEL",
    "EXAMPLES_PLACEHOLDER",
    "EXAMPLE_QUERIES",
    "FIRST_QUERY",
    "ROW_LIMIT",
]

EDITOR_LABEL = "SQL (one read-only statement)"
EXAMPLES_PLACEHOLDER = "pick an example over agent_runs and agent_steps"
ROW_LIMIT = 1000  # the row limit box's first value

EXAMPLE_QUERIES: dict[str, str] = {
    "Latest runs": (
        "SELECT id, status, task, total_steps, duration_ms, source, model_used, started_at\n"
        "FROM agent_runs\nORDER BY started_at DESC\nLIMIT 20"
    ),
    "Failed runs and the step that failed": (
        "SELECT r.started_at, r.task, s.step_number, s.tool_name, s.error\n"
        "FROM agent_runs r JOIN agent_steps s ON s.agent_run_id = r.id\n"
        "WHERE r.status = 'failed' AND s.status = 'error'\n"
        "ORDER BY r.started_at DESC"
    ),
    "Tools: calls, errors, p95 duration": (
        "SELECT tool_name, count(*) AS calls,\n"
        "       count(*) FILTER (WHERE status = 'error') AS errors,\n"
        "       round(quantile_cont(duration_ms, 0.95)) AS p95_ms\n"
        "FROM agent_steps\nWHERE action_type = 'tool_call'\n"
        "GROUP BY tool_name\nORDER BY calls DESC"
    ),
    "Runs per day and status": (
        "SELECT date_trunc('day', started_at) AS day, status, count(*) AS runs\n"
        "FROM agent_runs\nGROUP BY ALL\nORDER BY day, status"
    ),
    "Slowest steps": (
        "SELECT agent_run_id, step_number, action_type, tool_name, duration_ms\n"
        "FROM agent_steps\nWHERE duration_ms IS NOT NULL\n"
        "ORDER BY duration_ms DESC\nLIMIT 20"
    ),
    "Tokens by model": (
        "SELECT coalesce(model_used, model_requested) AS model, count(*) AS runs,\n"
        "       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens\n"
        "FROM agent_runs\nGROUP BY 1\nORDER BY runs DESC"
    ),
}

FIRST_QUERY = EXAMPLE_QUERIES["Latest runs"]  # in the editor until the user types
