"""A per-request budget on the number of parts, checked before the costly decode.

Turning a request into span records costs time and memory per part (span,
event, attribute...), not per byte: 15 MB of protobuf holding 300,000 minimal
spans, or 8 MiB of OTLP/JSON holding 3,000,000 empty events, took tens of
seconds and gigabytes. An honest exporter sends a few hundred to a few
thousand spans, each with at most a few hundred attributes (the SDK's default
limits are 128 attributes, events and links per span), so a request past the
budget is refused whole with a message saying what to change, before its
parts become Python objects; nothing of it is stored.

What counts as a part is the same in both encodings: every message of the
request below its top level (resources, scopes, spans, statuses, events,
links, attributes, each attribute's value, each element of an array or
key-value list value), which in OTLP/JSON is every ``{...}`` object; a JSON
body is also refused when it holds more than four values (objects, arrays,
strings, numbers) per part of the budget, a flood of scalars or empty arrays
where objects belong.

- protobuf: the request is parsed once by the C parser (which the decode
  needs anyway) and its repeated fields are measured with ``len``; counting
  stops as soon as the budget is passed, so it costs at most the budget;
- JSON: ``{``, ``[`` and ``,`` are counted in the raw bytes; only when that
  passes the budget are the strings (whose brackets are text) taken out and
  the count made exact.

Pure: no I/O.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.store_errors import Overloaded

__all__ = ["Counted", "PartsInFlight", "RequestBudget", "count_protobuf", "count_json"]

# A JSON string token, escapes included (unrolled: no backtracking between the alternatives).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


@dataclass(frozen=True, slots=True)
class RequestBudget:
    """How many spans, and how many parts in all, one request may hold."""

    max_spans: int
    max_parts: int

    def spans_problem(self, spans: int) -> str | None:
        if spans <= self.max_spans:
            return None
        return (
            f"request holds more than {self.max_spans} spans "
            f"(AGENT_AUDIT_MAX_REQUEST_SPANS); nothing was stored: send smaller batches "
            "(e.g. the batch processor's send_batch_max_size)"
        )

    def parts_problem(self, what: str) -> str:
        return (
            f"request holds more than {self.max_parts} {what} "
            "(spans, events, links, attributes and their values; "
            "AGENT_AUDIT_MAX_REQUEST_PARTS); nothing was stored: send smaller batches"
        )


@dataclass(frozen=True, slots=True)
class Counted:
    """A request's parts (counting stops just past the budget) and why it is
    over the budget, or None."""

    parts: int
    problem: str | None = None


class PartsInFlight:
    """The parts of the requests being decoded and stored right now, bounded.

    Each request under the budget may still cost its decode: about a kilobyte
    of memory per part until it is stored (a request of 999,000 empty events
    grew the collector by 927 MB). Requests arriving together take turns:
    past ``limit`` parts in flight, a request is answered "retry later"
    (HTTP 503 with Retry-After, gRPC UNAVAILABLE with RetryInfo), which
    exporters retry, unless nothing else is in flight (so one request of any
    size the budget allows always goes through).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        return self._held

    def take(self, parts: int) -> None:
        """Count ``parts`` in, or raise Overloaded when that would pass the limit."""
        with self._lock:
            if self._held and self._held + parts > self.limit:
                raise Overloaded(
                    f"{self._held} parts of other requests are being decoded; retry later"
                )
            self._held += parts

    def give(self, parts: int) -> None:
        """Count ``parts`` out, once the request they belong to is stored (or failed)."""
        with self._lock:
            self._held -= parts


def _value_parts(value: Any, left: int) -> int:
    """Parts inside one AnyValue (the value itself not included), stopping past ``left``."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        items = value.array_value.values
        count = 1 + len(items)  # the ArrayValue message, then one AnyValue each
        for item in items:
            if count > left:
                break
            count += _value_parts(item, left - count)
        return count
    if kind == "kvlist_value":
        entries = value.kvlist_value.values
        count = 1 + 2 * len(entries)  # the KeyValueList, then a KeyValue and its AnyValue each
        for entry in entries:
            if count > left:
                break
            count += _value_parts(entry.value, left - count)
        return count
    return 0


def _attribute_parts(attributes: Any, left: int) -> int:
    count = 2 * len(attributes)  # a KeyValue and its AnyValue each
    for attribute in attributes:
        if count > left:
            break
        if attribute.value.WhichOneof("value") in ("array_value", "kvlist_value"):
            count += _value_parts(attribute.value, left - count)
    return count


def count_protobuf(request: ExportTraceServiceRequest, budget: RequestBudget) -> Counted:
    """The parts of ``request`` and whether it is over ``budget``. Stops counting once past it."""
    spans = sum(
        len(scope_spans.spans)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
    )
    problem = budget.spans_problem(spans)
    if problem is not None:
        return Counted(spans, problem)
    limit = budget.max_parts
    count = 0
    for resource_spans in request.resource_spans:
        count += 2 + len(resource_spans.scope_spans)  # ResourceSpans, Resource, ScopeSpans
        count += _attribute_parts(resource_spans.resource.attributes, limit - count)
        for scope_spans in resource_spans.scope_spans:
            if count > limit:
                break
            count += 1 + _attribute_parts(scope_spans.scope.attributes, limit - count)
            count += 2 * len(scope_spans.spans)  # each Span and its Status
            for span in scope_spans.spans:
                if count > limit:
                    break
                count += len(span.events) + len(span.links)
                count += _attribute_parts(span.attributes, limit - count)
                for nested in (*span.events, *span.links) if count <= limit else ():
                    if count > limit:
                        break
                    count += _attribute_parts(nested.attributes, limit - count)
        if count > limit:
            break
    return Counted(count, budget.parts_problem("parts") if count > limit else None)


# JSON text holds about four values (a key-value's key, its value object, the
# value's string...) per object; far more is a flood of scalars or empty arrays
# that the parser would still turn into millions of Python objects.
JSON_VALUES_PER_PART = 4


def _json_counts(body: bytes) -> tuple[int, int]:
    """(objects, values) of a JSON body, the top-level object not included."""
    objects = body.count(b"{") - 1
    return objects, objects + body.count(b"[") + body.count(b",")


def count_json(body: bytes, budget: RequestBudget) -> Counted:
    """The objects of the OTLP/JSON ``body`` (its parts) and whether it is over
    ``budget``, counted before it is parsed."""
    max_values = JSON_VALUES_PER_PART * budget.max_parts
    objects, values = _json_counts(body)
    if objects <= budget.max_parts and values <= max_values:
        return Counted(max(objects, 0))
    # Braces and commas inside strings (a tool's JSON arguments stored as text) are text.
    objects, values = _json_counts(_JSON_STRING.sub(b'""', body))
    if objects > budget.max_parts:
        return Counted(objects, budget.parts_problem("JSON objects"))
    if values > max_values:
        return Counted(
            objects,
            budget.parts_problem(
                f"JSON values / {JSON_VALUES_PER_PART} (objects, arrays, strings, numbers)"
            ),
        )
    return Counted(max(objects, 0))
