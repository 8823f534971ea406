"""Read-only SQL the run explorer sends through ``POST /sql``; pure text builders.

The REST API returns runs and steps but not a step's raw span (attributes,
events, resource) nor a run's sub-agent runs; the read-only SQL endpoint has
both. Values are checked (ids are hex) or quoted as SQL string literals, so a
value from the URL cannot change the statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from dashboard.transcript import loads_json_text

__all__ = [
    "SpanRecord",
    "quote_literal",
    "span_sql",
    "parse_span_row",
]

_HEX = re.compile(r"^[0-9a-f]{1,64}$")


def quote_literal(value: str) -> str:
    """``value`` as a SQL string literal (quotes doubled; NUL refused)."""
    if "\x00" in value:
        raise ValueError("a NUL character cannot be part of an id")
    return "'" + value.replace("'", "''") + "'"


def span_sql(trace_id: str, span_id: str) -> str:
    """The stored span of one step, by its (hex) trace and span id."""
    if not _HEX.match(trace_id) or not _HEX.match(span_id):
        raise ValueError(f"not a hex trace/span id: {trace_id!r}/{span_id!r}")
    return (
        "SELECT name, status_code, status_message, start_ns, end_ns, service_name, "
        "scope_name, attributes, events, resource FROM spans "
        f"WHERE trace_id = '{trace_id}' AND span_id = '{span_id}'"
    )


SpanRecord = dict[str, Any]


def parse_span_row(columns: Sequence[str], row: Sequence[Any]) -> SpanRecord:
    """A ``span_sql`` row with its JSON columns decoded."""
    record = dict(zip(columns, row, strict=False))
    for name in ("attributes", "events", "resource"):
        record[name] = loads_json_text(record.get(name))
    return record
