"""The run filters shared by the run list and the stats, and the query layer's errors.

:class:`RunFilters` holds the checked filters; :func:`where_clause` turns them
into SQL over ``agent_runs``. The search index answers some of them without SQL
(:mod:`collector.query_search`); this is the meaning both keep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.annotations import annotation_condition
from collector.errors import CollectorError
from instrumentation.attributes import RUN_STATUSES

__all__ = [
    "RUN_STATUSES",
    "QueryError",
    "BadRequest",
    "RunNotFound",
    "RunNotRunning",
    "RunFilters",
    "parse_time",
    "where_clause",
]


class QueryError(CollectorError):
    """Root of the query layer's errors.

    QueryError
    ├── BadRequest      a filter, cursor or time the client sent is not valid
    ├── RunNotFound     no run has this id
    └── RunNotRunning   the run has ended, so it cannot be cancelled
    """


class BadRequest(QueryError):
    """A parameter is not valid; the message says which and why."""


class RunNotFound(QueryError):
    """No run has the id asked for."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class RunNotRunning(QueryError):
    """Cancelling a run that is not running."""

    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(f"run {run_id!r} is not running (status {status})")
        self.run_id = run_id
        self.status = status


def parse_time(name: str, text: str | None) -> datetime | None:
    """ISO 8601 (``Z``, an offset, or none for UTC; a date alone is midnight) -> naive UTC."""
    if text is None or text.strip() == "":
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(
            f"{name}={text!r} is not an ISO 8601 time (e.g. 2025-01-31T12:00:00Z)"
        ) from None
    try:
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        if _below_microseconds(text):
            # Python keeps six digits of a fraction; times are stored to the
            # microsecond, so both bounds (>= since, < until) hold exactly for the
            # next whole microsecond: ...857999 must not take in a run at ...857.
            moment += timedelta(microseconds=1)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise BadRequest(f"{name}={text!r} is out of range in UTC") from None
    return moment


_FRACTION = re.compile(r"[T ]\d{2}(?::?\d{2}){0,2}[.,]\d{6}(\d+)", re.IGNORECASE)


def _below_microseconds(text: str) -> bool:
    """Whether the time's fraction has a non-zero digit past the sixth."""
    match = _FRACTION.search(text)
    return match is not None and match.group(1).strip("0") != ""


@dataclass(frozen=True, kw_only=True)
class RunFilters:
    """The filters shared by the run list and the stats; empty fields filter nothing."""

    statuses: tuple[str, ...] = ()
    source: str | None = None
    model: str | None = None  # model_used or model_requested
    agent_name: str | None = None
    since: datetime | None = None  # started_at >= since (naive UTC)
    until: datetime | None = None  # started_at < until
    text: str | None = None  # in task or final answer, or a run id prefix
    tool: str | None = None  # runs with a step calling this tool
    annotation: str | None = None  # good / bad (latest verdict), any, or a label
    has_error: bool = False  # failed or lost, an error on the run, or a step that failed
    parent_run_id: str | None = None  # the sub-agent runs this run started

    def __post_init__(self) -> None:
        unknown = [s for s in self.statuses if s not in RUN_STATUSES]
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise BadRequest(f"unknown status {names}; use one of {', '.join(RUN_STATUSES)}")
        if self.since and self.until and self.since >= self.until:
            raise BadRequest("since must be earlier than until")


def where_clause(filters: RunFilters, alias: str = "r") -> tuple[str, list[Any]]:
    """``WHERE`` conditions (joined with AND, or ``TRUE``) and their parameters."""
    a = alias
    parts: list[str] = []
    params: list[Any] = []
    if filters.statuses:
        parts.append(f"{a}.status IN ({', '.join('?' for _ in filters.statuses)})")
        params.extend(filters.statuses)
    for column, value in (
        ("source", filters.source),
        ("agent_name", filters.agent_name),
        ("parent_run_id", filters.parent_run_id),
    ):
        if value:
            parts.append(f"{a}.{column} = ?")
            params.append(value)
    if filters.model:
        parts.append(f"(? IN ({a}.model_used, {a}.model_requested))")
        params.append(filters.model)
    if filters.since:
        parts.append(f"{a}.started_at >= ?")
        params.append(filters.since)
    if filters.until:
        parts.append(f"{a}.started_at < ?")
        params.append(filters.until)
    if filters.text:
        text_part, text_params = _text_match(filters.text, a)
        parts.append(text_part)
        params.extend(text_params)
    if filters.has_error:
        # A step may fail and the agent recover: such runs count too.
        parts.append(
            f"({a}.status IN ('failed', 'lost') OR {a}.error IS NOT NULL OR {a}.id IN "
            "(SELECT agent_run_id FROM agent_steps WHERE status = 'error'))"
        )
    if filters.annotation:
        annotated, annotated_params = annotation_condition(filters.annotation, a)
        parts.append(annotated)
        params.extend(annotated_params)
    if filters.tool:
        # tool_names is kept on the run row by the ingest (no join over every step).
        parts.append(f"list_contains({a}.tool_names, ?)")
        params.append(filters.tool)
    return (" AND ".join(parts) or "TRUE"), params


def _text_match(text: str, a: str) -> tuple[str, list[Any]]:
    """Runs whose task or final answer contains ``text`` (any case), or whose id starts with it.

    A plain ILIKE '%text%' (no ESCAPE clause) scans fastest; text holding a LIKE
    wildcard or backslash goes through contains(lower()), which needs no escaping.
    """
    if any(ch in text for ch in "%_\\"):
        part = f"(contains(lower({a}.task), ?) OR contains(lower({a}.final_answer), ?)"
        needle = text.lower()
        params: list[Any] = [needle, needle]
    else:
        part = f"({a}.task ILIKE ? OR {a}.final_answer ILIKE ?"
        params = [f"%{text}%", f"%{text}%"]
    return f"{part} OR starts_with({a}.id, ?))", [*params, text.lower()]
