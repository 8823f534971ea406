"""Redaction at the source: spans lose their secrets before they leave the agent's process.

:class:`SpanRedactor` makes redacted copies of finished spans with the engine
the collector uses (:mod:`instrumentation.redaction`), so the on-disk spool
(:mod:`instrumentation.spool`) never holds a secret the patterns know: the
spooling exporter applies it to whatever it writes (:mod:`instrumentation.spooling`).
With ``AGENT_AUDIT_REDACT_WIRE=true`` the batch processor also applies it to
every batch before export, on its worker thread, so the wire holds none
either (the collector redacts on arrival anyway). On by default; the policy comes from the same
``AGENT_AUDIT_REDACT*`` and ``AGENT_AUDIT_MAX_ATTRIBUTE_BYTES`` variables the
collector reads, so both ends store the same thing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from instrumentation import env as E
from instrumentation.redaction import Budget, RedactionPolicy, Redactor

__all__ = ["SpanRedactor", "policy_from_env"]


def policy_from_env(env: Mapping[str, str] = os.environ) -> RedactionPolicy:
    """The redaction policy the ``AGENT_AUDIT_*`` variables ask for (ValueError when bad)."""
    return RedactionPolicy.with_extras(
        enabled=bool(E.REDACT.read(env)),
        extra_patterns=E.REDACT_PATTERNS.read(env),
        extra_keys=E.REDACT_KEYS.read(env),
        max_value_bytes=int(E.MAX_ATTRIBUTE_BYTES.read(env)),
        time_budget_s=int(E.REDACT_BUDGET_MS.read(env)) / 1000.0,
    )


class _StoppableBudget(Budget):
    """A batch's time budget that is also spent once the redactor is stopped."""

    def __init__(self, seconds: float, stopped: threading.Event) -> None:
        super().__init__(seconds)
        self._stopped = stopped

    def left(self, scan_chars: int | None = None) -> bool:
        if self._stopped.is_set():
            self.spent = True
        return super().left(scan_chars)


class SpanRedactor:
    """Redacted copies of finished spans (a batch shares one time budget).

    :meth:`stop` spends every budget at once: from then on strings are replaced
    whole, without a pattern run. Shutdown stops it when it gives up on the
    export thread, so that thread is never inside RE2 (which runs without the
    GIL) while the interpreter exits, and nothing unscanned goes out.
    """

    def __init__(self, policy: RedactionPolicy | None = None) -> None:
        self.redactor = Redactor(policy or RedactionPolicy())
        self._stopped = threading.Event()

    @property
    def enabled(self) -> bool:
        return self.redactor.policy.enabled

    def stop(self) -> None:
        """Replace every further string whole instead of scanning it."""
        self._stopped.set()

    def __call__(self, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
        if not self.enabled:
            return list(spans)
        budget = _StoppableBudget(self.redactor.policy.time_budget_s, self._stopped)
        resources: dict[int, Resource] = {}
        return [self._span(span, budget, resources) for span in spans]

    def _attributes(self, attributes: Mapping[str, Any] | None, budget: Budget) -> dict[str, Any]:
        return self.redactor.mapping(attributes or {}, budget, truncate=True)

    def _resource(self, resource: Resource, budget: Budget) -> Resource:
        attributes = self._attributes(resource.attributes, budget)
        if attributes == dict(resource.attributes):
            return resource
        return Resource(attributes, resource.schema_url)

    def _span(
        self, span: ReadableSpan, budget: Budget, resources: dict[int, Resource]
    ) -> ReadableSpan:
        # Spans of one provider share one resource: clean it once per batch.
        resource = resources.get(id(span.resource))
        if resource is None:
            resource = resources[id(span.resource)] = self._resource(span.resource, budget)
        text = self.redactor.redact_text
        name = text(span.name, budget)
        # One plain copy of each map: the SDK's bounded maps are slow to iterate.
        original = dict(span.attributes or {})
        attributes = self._attributes(original, budget)
        status = span.status
        if status.description:
            description = text(status.description, budget)
            if description != status.description:
                status = Status(status.status_code, description)
        events, links = span.events, span.links
        event_maps = [dict(e.attributes or {}) for e in events]
        link_maps = [dict(k.attributes or {}) for k in links]
        cleaned_events = [
            (text(e.name, budget), self._attributes(m, budget))
            for e, m in zip(events, event_maps, strict=True)
        ]
        cleaned_links = [self._attributes(m, budget) for m in link_maps]
        unchanged = (
            name == span.name
            and resource is span.resource
            and status is span.status
            and attributes == original
            and all(
                n == e.name and a == m
                for (n, a), e, m in zip(cleaned_events, events, event_maps, strict=True)
            )
            and cleaned_links == link_maps
        )
        if unchanged:
            return span  # nothing to hide: the span goes as it is, no copy
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=resource,
            attributes=attributes,
            events=[
                Event(n, a, e.timestamp, limit=None)
                for (n, a), e in zip(cleaned_events, events, strict=True)
            ],
            links=[Link(k.context, a) for a, k in zip(cleaned_links, links, strict=True)],
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
