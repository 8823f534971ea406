"""The one clock of stored times: UTC, without a zone (DuckDB ``TIMESTAMP``)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_now"]


def utc_now() -> datetime:
    """Now in UTC as a naive datetime, the form every stored time has."""
    return datetime.now(UTC).replace(tzinfo=None)
