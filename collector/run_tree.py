"""Walks of one trace's span tree that must stay linear however deep it nests.

Pure: no I/O. A trace may hold thousands of agents each nested in the one
above; work per run over the whole trace made that cubic (a request of 3,000
nested agents took 80 s). Both walks here visit each span once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from collector.decode import SpanRecord

__all__ = ["own_spans_by_run", "model_calls_below"]


def own_spans_by_run(
    by_id: dict[str, SpanRecord], is_run: Callable[[SpanRecord], bool], run_ids: set[str]
) -> dict[str, list[SpanRecord]]:
    """Each run's own spans: those whose nearest run above them is that run.

    One pass over the trace, each span's answer kept for the spans below it; a
    parent cycle (a span its own ancestor) belongs to no run."""
    runs = run_ids | {span_id for span_id, span in by_id.items() if is_run(span)}
    owner: dict[str, str | None] = {}
    for start in by_id:
        path: list[str] = []
        seen: set[str] = set()
        current, found = start, None
        while True:
            if current in owner:
                found = owner[current]
                break
            path.append(current)
            seen.add(current)
            parent = by_id[current].parent_span_id
            if parent is None or parent not in by_id or parent in seen:
                break
            if parent in runs:
                found = parent
                break
            current = parent
        for span_id in path:
            owner[span_id] = found
    own: dict[str, list[SpanRecord]] = {}
    for span_id, run in owner.items():
        if run is not None:
            own.setdefault(run, []).append(by_id[span_id])
    return own


def model_calls_below(
    trace_spans: Iterable[SpanRecord], is_model_call: Callable[[SpanRecord], bool]
) -> dict[str, list[SpanRecord]]:
    """Span id -> the model calls anywhere below it, in start order.

    Built bottom-up in one pass over the trace: a span whose calls all come from one child
    shares that child's list, so a chain of thousands of nested agents costs linear time.
    Spans in a parent cycle have none."""
    by_id = {s.span_id: s for s in trace_spans}
    children: dict[str, list[SpanRecord]] = {}
    for span in by_id.values():
        if span.parent_span_id in by_id and span.parent_span_id != span.span_id:
            children.setdefault(span.parent_span_id, []).append(span)
    order: list[str] = []  # parents before children, from the roots
    stack = [s.span_id for s in by_id.values() if s.parent_span_id not in by_id]
    while stack:
        span_id = stack.pop()
        order.append(span_id)
        stack.extend(child.span_id for child in children.get(span_id, []))
    below: dict[str, list[SpanRecord]] = {}
    for span_id in reversed(order):
        parts = [
            part
            for child in children.get(span_id, [])
            for part in (below[child.span_id], [child] if is_model_call(child) else [])
            if part
        ]
        if len(parts) == 1:
            below[span_id] = parts[0]
        else:
            below[span_id] = sorted(
                (call for part in parts for call in part),
                key=lambda s: (s.start_ns, s.end_ns, s.span_id),
            )
    return below
