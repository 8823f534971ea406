"""An OTLP trace request taken apart span by span, each with the resource and scope it came
under, and put together again in any grouping and order (a late root, a permutation, a
retry): what tests that replay a captured trace in another delivery need."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = ["SpanItem", "request_of", "span_items", "trace_ids"]

SpanItem = tuple[Resource, InstrumentationScope, Span]


def span_items(body: bytes) -> list[SpanItem]:
    """Every span of the serialized request ``body``, in its order."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return [
        (resource.resource, scope.scope, span)
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


def request_of(items: Iterable[SpanItem]) -> ExportTraceServiceRequest:
    """One request carrying ``items`` in this order, each under its own resource and scope."""
    request = ExportTraceServiceRequest()
    for resource, scope, span in items:
        resource_spans = request.resource_spans.add()
        resource_spans.resource.CopyFrom(resource)
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.CopyFrom(scope)
        scope_spans.spans.add().CopyFrom(span)
    return request


def trace_ids(items: Iterable[SpanItem]) -> list[str]:
    """The traces of ``items``, as sorted lowercase hex."""
    return sorted({span.trace_id.hex() for _, _, span in items})
