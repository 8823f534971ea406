"""The collector's REST API, seen from the dashboard: the shared client under its
dashboard names (``collector.client`` is the one implementation)."""

from __future__ import annotations

from collector.client import (
    ApiError,
    AuditClient,
    ClientError,
    CollectorUnreachable,
    Conflict,
    NotFound,
    Record,
    RequestNotSent,
    RunFilters,
    RunPage,
    SqlResult,
    Unauthorized,
)

DashboardError = ClientError  # the root error, under the name the dashboard used

__all__ = [
    "ApiError",
    "AuditClient",
    "CollectorUnreachable",
    "Conflict",
    "DashboardError",
    "NotFound",
    "Record",
    "RequestNotSent",
    "RunFilters",
    "RunPage",
    "SqlResult",
    "Unauthorized",
]
