"""Captured SDK spans -> the collector's span records, and the mapping's view of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from collector import frameworks
from collector.decode import SpanRecord, decode_message
from collector.mapping import SpanClass, classify


def to_records(spans: Sequence[ReadableSpan]) -> list[SpanRecord]:
    """Encode like the OTLP exporter does, decode like the collector does."""
    decoded = decode_message(encode_spans(spans))
    assert decoded.rejected == 0, decoded.error_message
    return decoded.spans


def span_class(span: SpanRecord) -> SpanClass:
    """The class of a span, with the frameworks' override applied first."""
    hint = frameworks.span_class_hint(span)
    return SpanClass(hint) if hint is not None else classify(span)


def is_run(span: SpanRecord) -> bool:
    """Whether a span stands for a run."""
    return span_class(span) is SpanClass.RUN


def runs(records: Sequence[SpanRecord]) -> list[SpanRecord]:
    """The run spans, in start order."""
    return sorted((r for r in records if is_run(r)), key=lambda r: r.start_ns)


def run_with_task(records: Sequence[SpanRecord], marker: str) -> SpanRecord:
    """The one run whose task (own or derived) contains ``marker``."""
    found = [r for r in runs(records) if marker in (run_view(r, records).get("task") or "")]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def run_view(run: SpanRecord, records: Sequence[SpanRecord]) -> dict[str, Any]:
    """The run's fields: its own span's first, then what its descendants tell."""
    fields = frameworks.derive_run_fields(run, records, is_run=is_run)
    fields.update(frameworks.run_fields(run))
    status = fields.pop("status", None)
    fields["status"] = status or ("failed" if run.status_code == 2 else "completed")
    return fields


def children(records: Sequence[SpanRecord], parent: SpanRecord) -> list[SpanRecord]:
    """Direct children of a span, in start order."""
    return sorted(
        (r for r in records if r.parent_span_id == parent.span_id), key=lambda r: r.start_ns
    )
