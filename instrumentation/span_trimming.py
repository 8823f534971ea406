"""Long values cut before export, so one huge span never costs its batch.

A tool that returns 20 MB, or an exception message of that size, made an
export request larger than the collector takes (``AGENT_AUDIT_MAX_REQUEST_BYTES``,
16 MiB): the collector refused the request and every span of the batch was
lost with it, the run's own span included. :class:`SpanTrimmer` cuts, on the
batch thread, what the collector would cut anyway: a string attribute longer
than ``AGENT_AUDIT_MAX_ATTRIBUTE_BYTES`` keeps a 4 KiB preview, its length and
sha256 (the form :mod:`instrumentation.redaction` gives it, listed under
``agent_audit.truncated``); a list of strings longer than that is cut as its
JSON text; span and event names, status messages and attribute keys are cut
with a marker. It runs whether or not redaction is on; a span with nothing
too long (a length check per string) goes out as it is, uncopied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from instrumentation.redaction import RedactionPolicy, Redactor

__all__ = ["SpanTrimmer", "chain"]

# Keys, names and status messages are labels: past this they are cut plainly.
_LABEL_MAX_CHARS = 4096
_LABEL_MARK = "…[cut by agent-audit]"

SpanFilter = Callable[[Sequence[ReadableSpan]], Sequence[ReadableSpan]]


class SpanTrimmer:
    """Copies of spans with every over-long value cut (spans within the limits pass as they are)."""

    def __init__(self, max_value_bytes: int) -> None:
        policy = RedactionPolicy(
            enabled=False, max_value_bytes=max_value_bytes, preview_bytes=min(4096, max_value_bytes)
        )
        self._cutter = Redactor(policy)
        # A str of n characters holds at most 4n UTF-8 bytes: shorter ones need no look.
        self._max_chars = max(max_value_bytes // 4, 1)
        self._max_value_bytes = max_value_bytes

    def __call__(self, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
        return [self._span(span) if self._too_long(span) else span for span in spans]

    # --- the cheap look ----------------------------------------------------------------
    def _too_long(self, span: ReadableSpan) -> bool:
        # Read the span's own containers, not its public properties: those copy
        # (tuple(), MappingProxyType) and the SDK's bounded maps iterate under a lock,
        # which cost more than the look itself on every span exported.
        if len(span.name) > _LABEL_MAX_CHARS:
            return True
        description = span.status.description
        if description and len(description) > _LABEL_MAX_CHARS:
            return True
        attributes = getattr(span, "_attributes", None)
        if self._map_too_long(span.attributes if attributes is None else attributes):
            return True
        events = getattr(span, "_events", None)
        if events is None:
            events = span.events
        if events:  # most spans have none: skip the iteration (under a lock)
            for event in events:
                if len(event.name) > _LABEL_MAX_CHARS or self._map_too_long(event.attributes):
                    return True
        links = getattr(span, "_links", None)
        if links is None:
            links = span.links
        return bool(links) and any(self._map_too_long(link.attributes) for link in links)

    def _map_too_long(self, attributes: Mapping[str, Any] | None) -> bool:
        if attributes is None:
            return False
        plain = getattr(attributes, "_dict", None)  # BoundedAttributes keeps a plain dict
        limit = self._max_chars
        for key, value in (plain if isinstance(plain, dict) else attributes).items():
            if type(value) is str:
                if len(value) > limit and self._over_bytes(value):
                    return True
            elif _long_text_list(value, limit):
                return True
            if len(key) > _LABEL_MAX_CHARS:
                return True
        return False

    def _over_bytes(self, value: str) -> bool:
        limit = self._max_value_bytes
        if len(value) > limit:
            return True
        return not value.isascii() and len(value.encode("utf-8", "surrogatepass")) > limit

    # --- the copy ----------------------------------------------------------------------
    def _span(self, span: ReadableSpan) -> ReadableSpan:
        status = span.status
        if status.description and len(status.description) > _LABEL_MAX_CHARS:
            status = Status(status.status_code, _label(status.description))
        return ReadableSpan(
            name=_label(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=self._attributes(span.attributes),
            events=[
                Event(_label(e.name), self._attributes(e.attributes), e.timestamp, limit=None)
                for e in span.events
            ],
            links=[Link(k.context, self._attributes(k.attributes)) for k in span.links],
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
        plain: dict[str, Any] = {}
        for key, value in (attributes or {}).items():
            if _long_text_list(value, self._max_chars):
                value = json.dumps(list(value), ensure_ascii=False)  # cut below as text
            plain[_label(key)] = value
        return self._cutter.mapping(plain, self._cutter.budget(), truncate=True)


def _long_text_list(value: Any, max_chars: int) -> bool:
    if not (isinstance(value, tuple | list) and value and isinstance(value[0], str)):
        return False
    return sum(len(item) for item in value) > max_chars


def _label(text: str) -> str:
    if len(text) <= _LABEL_MAX_CHARS:
        return text
    return text[: _LABEL_MAX_CHARS - len(_LABEL_MARK)] + _LABEL_MARK


def chain(*filters: SpanFilter | None) -> SpanFilter:
    """One filter applying each given one in turn (None entries skipped)."""
    present = [f for f in filters if f is not None]

    def apply(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
        for span_filter in present:
            spans = span_filter(spans)
        return spans

    return apply
