"""Per-span validation: what one span must satisfy to be stored.

A request's bad spans are rejected one by one and counted in
``partial_success`` (OTLP spec, "Partial Success"), so one span with a NaN
token count or an end time of 2^64-1 no longer costs the good spans next to
it. A span that ends before it starts is not bad input but a clock that was
set back while it ran (NTP stepping the agent's host): it is stored as sent,
and its run or step reads as taking no time (collector/mapping.py). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

if TYPE_CHECKING:
    from collector.decode import SpanRecord

__all__ = ["span_problem", "attributes_problem", "MAX_TIME_NS"]

# Times are stored as signed 64-bit nanoseconds (DuckDB BIGINT): up to 2262-04-11.
MAX_TIME_NS = 2**63 - 1
_MAX_DEPTH = 32
# The values of Span.SpanKind and Status.StatusCode (opentelemetry-proto trace.proto).
# Protobuf keeps an unknown enum number as it is; stored, kind 99 or status 7 would
# read as nothing a reader knows (status 7 as "not an error"), so the span is refused.
_SPAN_KINDS = frozenset(Span.SpanKind.values())
_STATUS_CODES = frozenset(Status.StatusCode.values())


def span_problem(span: SpanRecord, *, check_resource: bool = True) -> str | None:
    """Why ``span`` cannot be stored, or None when it can.

    ``check_resource=False``: the caller found the span's resource attributes fine
    already (the spans of one ResourceSpans share them)."""
    label = f"span {span.span_id}"
    if span.parent_span_id == span.span_id:
        # No span can start inside itself; stored, it would hang nowhere in its trace.
        return f"{label}: is its own parent"
    if span.kind not in _SPAN_KINDS:
        return f"{label}: kind {span.kind} is not a SpanKind value ({_range(_SPAN_KINDS)})"
    if span.status_code not in _STATUS_CODES:
        known = _range(_STATUS_CODES)
        return f"{label}: status code {span.status_code} is not a StatusCode value ({known})"
    for name, value in (("start time", span.start_ns), ("end time", span.end_ns)):
        if not 0 <= value <= MAX_TIME_NS:
            return f"{label}: {name} {value} is out of range (after year 2262)"
    for index, event in enumerate(span.events):
        if not 0 <= int(event.get("time_ns") or 0) <= MAX_TIME_NS:
            return f"{label}: event {index} time is out of range"
    for index, link in enumerate(span.links):
        trace_id, span_id = link.get("trace_id") or "", link.get("span_id") or ""
        if len(trace_id) not in (0, 32) or len(span_id) not in (0, 16):
            return f"{label}: link {index} has an invalid id"
    for where, values in _attribute_sets(span, check_resource):
        problem = attributes_problem(values)
        if problem is not None:
            return f"{label}: {where} {problem}"
    return None


def _range(values: frozenset[int]) -> str:
    return f"{min(values)}-{max(values)}"


def attributes_problem(values: dict[str, Any]) -> str | None:
    """Why an attribute map cannot be stored (a value not finite, or nested too
    deep), or None."""
    if _FLAT.issuperset(map(type, values.values())):
        return None  # most maps: no number to check, nothing nested
    return _value_problem(values, 0)


# Value types that are fine whatever their value (a float may be NaN).
_FLAT = frozenset({str, int, bool, type(None)})


def _attribute_sets(span: SpanRecord, check_resource: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "attribute", span.attributes
    if check_resource:
        yield "resource attribute", span.resource
    for index, event in enumerate(span.events):
        yield f"event {index} attribute", event.get("attributes") or {}
    for index, link in enumerate(span.links):
        yield f"link {index} attribute", link.get("attributes") or {}


def _value_problem(value: Any, depth: int, key: str = "") -> str | None:
    if depth > _MAX_DEPTH:
        return f"{key!r} is nested deeper than {_MAX_DEPTH} levels"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{key!r} is {value} (not a finite number)"
    if isinstance(value, dict):
        for child_key, child in value.items():
            problem = _value_problem(child, depth + 1, f"{key}.{child_key}" if key else child_key)
            if problem is not None:
                return problem
    elif isinstance(value, list):
        for child in value:
            problem = _value_problem(child, depth + 1, key)
            if problem is not None:
                return problem
    return None
