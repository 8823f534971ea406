"""The run filters of the query API, declared once for every route that takes them.

``GET /agent/runs`` and ``GET /agent/runs/stats`` take the same query
parameters. :class:`RunFilterQuery` holds them as a Pydantic query-parameter
model, so each parameter keeps its own name in the query string and in the
OpenAPI document; :meth:`RunFilterQuery.to_filters` checks the values and turns
them into :class:`collector.queries.RunFilters`, or answers 400 with the reason.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Query
from pydantic import BaseModel, Field

from collector import queries

__all__ = ["RunFilterQuery", "RunFilterParams", "MAX_Q_CHARS"]

# Longer than any task text worth searching for; bounds the work one request asks.
MAX_Q_CHARS = 1000


class RunFilterQuery(BaseModel):
    """The raw filter parameters; every one is optional and an empty value filters nothing."""

    status: list[str] | None = Field(
        default=None,
        description="Run status; repeat for several (running, completed, failed, ...).",
    )
    source: str | None = Field(default=None, description="Exact source, e.g. n8n or api.")
    model: str | None = Field(default=None, description="Model used or requested (exact).")
    agent_name: str | None = Field(default=None, description="Exact agent name.")
    since: str | None = Field(
        default=None, description="ISO 8601; runs that started at or after this time (UTC)."
    )
    until: str | None = Field(default=None, description="ISO 8601; runs that started before this.")
    q: str | None = Field(
        default=None,
        max_length=MAX_Q_CHARS,
        description="Text in the task or final answer (case-insensitive), or a run id prefix.",
    )
    tool: str | None = Field(default=None, description="Runs with at least one call of this tool.")
    has_error: bool | None = Field(
        default=None,
        description="true: runs that failed or were lost, or recorded an error on the run "
        "or on any step (also runs whose agent recovered from a failed tool call).",
    )
    annotation: str | None = Field(
        default=None,
        description="Annotated runs: `good` or `bad` (the latest verdict), `any`, or a label.",
    )

    parent_run_id: str | None = Field(
        default=None, description="The sub-agent runs this run started (its children)."
    )

    def to_filters(self) -> queries.RunFilters:
        """The checked filters; a bad status or time is a 400 whose detail says why."""
        try:
            return queries.RunFilters(
                statuses=tuple(s for s in (self.status or []) if s),
                source=self.source or None,
                model=self.model or None,
                agent_name=self.agent_name or None,
                since=queries.parse_time("since", self.since),
                until=queries.parse_time("until", self.until),
                text=self.q or None,
                tool=self.tool or None,
                annotation=self.annotation or None,
                has_error=bool(self.has_error),
                parent_run_id=self.parent_run_id or None,
            )
        except queries.BadRequest as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None


# A query model rather than a ``Depends`` that builds the filters: a dependency's
# parameters would follow the route's own in the OpenAPI document, and a bad filter
# would hide a malformed ``limit`` (dependencies run before the route's own checks).
RunFilterParams = Annotated[RunFilterQuery, Query()]
