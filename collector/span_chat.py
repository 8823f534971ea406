"""A stored span's model-call messages, read the way ingest reads them; pure.

``GET /spans/{trace_id}/{span_id}`` adds them to its answer as ``model_messages``, so
the dashboard (which imports nothing of the collector but its REST client) shows what
the collector read: the GenAI message attributes or span events (Strands, OpenLIT),
the same events kept as one JSON list in an ``events`` attribute (pydantic-ai 1.0's
Logfire-style spans, each event naming itself in ``event.name``), and LiteLLM's raw
request (collector/event_messages.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.decode import SpanRecord
from collector.event_messages import model_messages
from collector.messages import loads

__all__ = ["span_model_messages"]


def _events(attrs: Mapping[str, Any], span: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The span's events; else the GenAI events listed in its ``events`` attribute."""
    events = [e for e in span.get("events") or [] if isinstance(e, dict)]
    if any(str(e.get("name", "")).startswith("gen_ai.") for e in events):
        return events
    listed = loads(attrs.get("events"))
    if isinstance(listed, Mapping):
        listed = [listed]
    named = (
        [dict(e) for e in listed if isinstance(e, Mapping) and e.get("event.name")]
        if (isinstance(listed, list))
        else []
    )
    return events + [{"name": e["event.name"], "attributes": e} for e in named]


def span_model_messages(span: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """``{"input": [...], "output": [...]}``: the call's messages in the collector's
    chat shape (``role``, ``content``, ``tool_calls``, ``id``); empty lists when the
    span holds none in these forms."""
    attrs = span.get("attributes")
    attrs = dict(attrs) if isinstance(attrs, Mapping) else {}
    record = SpanRecord(
        trace_id="",
        span_id="",
        parent_span_id=None,
        name=str(span.get("name") or ""),
        kind=0,
        start_ns=0,
        end_ns=0,
        status_code=0,
        status_message="",
        attributes=attrs,
        events=_events(attrs, span),
        scope_name=str(span.get("scope_name") or ""),
    )
    return {direction: model_messages(record, direction) for direction in ("input", "output")}
