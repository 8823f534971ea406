"""A minimal span record for tests of pure functions (redaction, mapping rules, tree walks)."""

from __future__ import annotations

from typing import Any

from collector.decode import SpanRecord


def span_record(
    span_id: str = "2" * 16,
    *,
    name: str = "n",
    parent_span_id: str | None = None,
    attributes: dict[str, Any] | None = None,
    **fields: Any,
) -> SpanRecord:
    """A finished span of trace ``1…1``; any other SpanRecord field may be given."""
    values: dict[str, Any] = {
        "trace_id": "1" * 32,
        "kind": 1,
        "start_ns": 1,
        "end_ns": 2,
        "status_code": 0,
        "status_message": "",
        **fields,
    }
    return SpanRecord(
        span_id=span_id,
        parent_span_id=parent_span_id,
        name=name,
        attributes=attributes if attributes is not None else {},
        **values,
    )
