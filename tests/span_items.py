"""An OTLP trace request taken apart span by span, each with the resource and scope it came
under, and put together again in any grouping and order (a late root, a permutation, a
retry): what tests that replay a captured trace in another delivery need."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = ["SpanItem", "renamed", "request_of", "span_items", "trace_ids"]

SpanItem = tuple[Resource, InstrumentationScope, Span]
# Attributes whose values are span ids of the same trace (pending copies' links).
_SPAN_ID_ATTRIBUTES = ("agent_audit.pending_parent_id", "agent_audit.pending_real_parent_id")
_RUN_ID_ATTRIBUTE = "agent_run.id"


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


def renamed(items: list[SpanItem], salt: str) -> list[SpanItem]:
    """The same spans under ids no other example uses (trace, span, parent, link ids,
    and the run ids of the instrumentation's own spans)."""

    def new(old: bytes, size: int) -> bytes:
        return hashlib.sha256(salt.encode() + old).digest()[:size] if old else old

    out = []
    for resource, scope, span in items:
        copy = Span()
        copy.CopyFrom(span)
        copy.trace_id = new(span.trace_id, 16)
        copy.span_id = new(span.span_id, 8)
        copy.parent_span_id = new(span.parent_span_id, 8)
        for link in copy.links:
            link.trace_id, link.span_id = new(link.trace_id, 16), new(link.span_id, 8)
        for attribute in copy.attributes:
            if attribute.key in _SPAN_ID_ATTRIBUTES and attribute.value.string_value:
                old = bytes.fromhex(attribute.value.string_value)
                attribute.value.string_value = new(old, 8).hex()
            elif attribute.key == _RUN_ID_ATTRIBUTE:
                attribute.value.string_value += f"-{salt}"
        out.append((resource, scope, copy))
    return out
