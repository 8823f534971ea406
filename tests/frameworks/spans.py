"""Captured SDK spans -> the collector's span records, and the mapping's view of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from collector import frameworks
from collector.decode import SpanRecord, decode_message
from collector.mapping import SpanClass, build_run, build_step, classify, nearest_run


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


def mapped_run(run: SpanRecord, records: Sequence[SpanRecord]) -> dict[str, Any]:
    """The run row the collector stores: the run span's own fields, then what its
    descendants tell filling only the gaps (a derived status only over ``completed``), as
    collector/foreign_runs.py does."""
    row = build_run(run, None)
    fields = {name: getattr(row, name) for name in ("task", "final_answer", "model_requested",
                                                     "model_used", "provider", "status", "error",
                                                     "agent_name", "input_tokens",
                                                     "output_tokens")}  # fmt: skip
    derived = frameworks.derive_run_fields(run, records, is_run=is_run)
    status = derived.pop("status", None)
    for name, value in derived.items():
        if name == "model_used":
            fields[name] = value or fields[name]
        elif fields.get(name) is None:
            fields[name] = value
    if status and fields["status"] == "completed":
        fields["status"] = status
    return fields


def mapped_steps(run: SpanRecord, records: Sequence[SpanRecord]) -> list[Any]:
    """The step rows of ``run`` (its own steps, not its sub-runs'), in start order."""
    by_id = {r.span_id: r for r in records}
    parents = {r.span_id: r.parent_span_id for r in records}
    run_ids = {r.span_id: r.span_id for r in records if is_run(r)}
    steps = []
    for span in sorted(records, key=lambda r: (r.start_ns, r.span_id)):
        kind = span_class(span)
        if kind not in (SpanClass.TOOL, SpanClass.LLM, SpanClass.OWN_STEP):
            continue
        if nearest_run(span.span_id, parents, run_ids)[0] != run.span_id:
            continue
        step = build_step(span, kind, run.span_id)
        derived = frameworks.derive_step_fields(span, by_id)
        if derived.get("tool_args") is not None:
            step.tool_args = json.dumps(derived["tool_args"], ensure_ascii=False, default=str)
        steps.append(step)
    return steps
