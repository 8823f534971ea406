"""Secrets out, huge values cut: applied to every span before it is stored.

The engine (truncate first, then RE2 patterns over every string, a time budget
per request) is :mod:`instrumentation.redaction`, shared with the
instrumentation, which runs it before a span leaves the agent's process. The
collector runs it again for every span it receives, whoever sent it: over the
name, attribute keys and values, events, links, status message and resource,
recursively through lists and maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collector.decode import SpanRecord
from instrumentation.redaction import (
    BUDGET_REDACTED,
    DEFAULT_PATTERNS,
    DEFAULT_SECRET_KEYS,
    REDACTED,
    TRUNCATED_KEY,
    Budget,
    RedactionPolicy,
    Redactor,
)

__all__ = [
    "RedactionPolicy",
    "Sanitizer",
    "REDACTED",
    "BUDGET_REDACTED",
    "TRUNCATED_KEY",
    "DEFAULT_PATTERNS",
    "DEFAULT_SECRET_KEYS",
]


class Sanitizer(Redactor):
    """Applies a RedactionPolicy to span records; pure and thread-safe."""

    def apply(self, spans: Sequence[SpanRecord]) -> list[SpanRecord]:
        """Redacted and truncated copies of ``spans``, in their order.

        The request's time budget is spent on the cheapest spans first: in arrival
        order, one span of 100,000 attributes spent it and the ordinary spans after
        it (another agent's, when an OpenTelemetry Collector batches many agents
        into one request) were stored as the budget marker. Now such a span costs
        only itself and what is as costly."""
        # The spans of one ResourceSpans share one resource dict: clean it once.
        resources: dict[int, dict[str, Any]] = {}
        budget = self.budget()
        cleaned: list[SpanRecord | None] = [None] * len(spans)
        for index in sorted(range(len(spans)), key=lambda i: _scan_cost(spans[i])):
            cleaned[index] = self._span(spans[index], resources, budget)
        return [s for s in cleaned if s is not None]

    def _span(
        self, span: SpanRecord, resources: dict[int, dict[str, Any]], budget: Budget
    ) -> SpanRecord:
        resource = resources.get(id(span.resource))
        if resource is None:
            resource = resources[id(span.resource)] = self.mapping(
                span.resource, budget, truncate=True
            )
        # Built field by field (dataclasses.replace costs more than the rest of a
        # typical span's redaction); tests/collector/test_redact.py checks that every
        # field of SpanRecord is carried over.
        return SpanRecord(
            trace_id=span.trace_id,
            span_id=span.span_id,
            parent_span_id=span.parent_span_id,
            name=self.redact_text(span.name, budget),
            kind=span.kind,
            start_ns=span.start_ns,
            end_ns=span.end_ns,
            status_code=span.status_code,
            status_message=self.redact_text(span.status_message, budget),
            attributes=self.mapping(span.attributes, budget, truncate=True),
            events=[
                {
                    **e,
                    "name": self.redact_text(str(e.get("name", "")), budget),
                    "attributes": self.mapping(e.get("attributes") or {}, budget, truncate=True),
                }
                for e in span.events
            ],
            links=[
                {
                    **link,
                    "attributes": self.mapping(link.get("attributes") or {}, budget, truncate=True),
                }
                for link in span.links
            ],
            resource=resource,
            scope_name=span.scope_name,
            scope_version=span.scope_version,
        )


def _scan_cost(span: SpanRecord) -> int:
    """About how many values there are to scan in ``span``, at any depth: the
    containers' sizes (taken by ``len``, so the count costs far less than the scan it
    orders). Long strings count as one: they are cut before they are scanned."""
    cost = 0
    stack: list[Any] = [span.attributes, span.events, span.links]
    while stack:
        value = stack.pop()
        cost += len(value)
        items = value.values() if isinstance(value, dict) else value
        stack.extend(v for v in items if isinstance(v, (dict, list)))
    return cost
