"""The API's Run and Step objects as pydantic models, derived from collector/columns.py.

They document the responses in the OpenAPI schema (``/docs``); the routes still
return the rows as serialized by collector/serialize.py, so a column added to
the declarations shows up in both at once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from collector.columns import AGENT_RUNS, AGENT_STEPS, Column

__all__ = ["Run", "Step", "RunPage", "RunWithSteps", "StepPageModel"]

# The JSON type each DuckDB type is served as (times: ISO 8601 UTC ending in Z).
_JSON_TYPES: dict[str, Any] = {
    "VARCHAR": str,
    "JSON": Any,
    "INTEGER": int,
    "BIGINT": int,
    "DOUBLE": float,
    "BOOLEAN": bool,
    "TIMESTAMP": str,
    "VARCHAR[]": list[str],
}
_OPEN = ConfigDict(extra="allow")


def _fields(columns: tuple[Column, ...]) -> dict[str, Any]:
    return {
        c.name: (_JSON_TYPES[c.sql_type] | None, Field(default=None, description=c.doc))
        for c in columns
    }


Run: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Run",
    __config__=_OPEN,
    **_fields(AGENT_RUNS),
    step_count=(int | None, Field(default=None, description="Same as total_steps.")),
    elapsed_ms=(
        float | None,
        Field(default=None, description="For a running run: now minus started_at."),
    ),
    cancel_requested_at=(str | None, Field(default=None, description="When a cancel was asked.")),
    cancel_requested_by=(str | None, Field(default=None, description="Who asked to cancel.")),
    tool_calls=(int | None, Field(default=None, description="Tool-call steps (run lists).")),
    llm_calls=(int | None, Field(default=None, description="LLM-call steps (run lists).")),
)
Step: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Step", __config__=_OPEN, **_fields(AGENT_STEPS)
)
RunPage: type[BaseModel] = create_model(
    "RunPage",
    runs=(list[Run], ...),  # type: ignore[valid-type]
    total=(int, ...),
    next=(str | None, None),
)


class SubRunTotals(BaseModel):
    """The runs nested in a run, at any depth, added up (its own figures are not included)."""

    runs: int = Field(description="Sub-agent runs, at any depth.")
    failed: int = Field(description="Those that failed.")
    running: int = Field(description="Those still running.")
    input_tokens: int = Field(description="Their input tokens.")
    output_tokens: int = Field(description="Their output tokens.")
    cost_usd: float | None = Field(description="Their cost where known; null when none is.")
    unpriced_runs: int = Field(description="Those with tokens but no known price.")


RunWithSteps: type[BaseModel] = create_model(
    "RunWithSteps",
    __base__=Run,
    steps=(list[Step], ...),  # type: ignore[valid-type]
    steps_truncated=(
        bool,
        Field(
            default=False,
            description="True when the run has more steps than the page holds (1,000): "
            "`total_steps` counts them all, `GET /agent/runs/{id}/steps` pages through them, "
            "and `cost_usd` is still over all of them.",
        ),
    ),
    sub_run_totals=(
        SubRunTotals | None,
        Field(
            default=None,
            description="Its sub-agent runs added up; null when it started none. A run that "
            "only runs other agents keeps its own tokens, so nothing is counted twice.",
        ),
    ),
)

StepPageModel: type[BaseModel] = create_model(
    "StepPage",
    steps=(list[Step], ...),  # type: ignore[valid-type]
    next_after_step=(
        int | None,
        Field(
            default=None,
            description="The `after_step` that asks for the next page; null when no step follows.",
        ),
    ),
)
