"""A program's own span around model calls that no run holds: that span is the run.

A loop written by hand and traced only by an LLM client's instrumentation (OpenLLMetry's,
openai-v2's, Logfire's ``instrument_openai``) inside a span of the program's own (a
script's ``weather_loop``, a ``logfire.span``, a web request's server span) has no span any
convention calls a run, so its model calls would belong to none. A person reading that
trace names the program's unit of work as the run and the model calls as its steps; so
does the collector: a trace's root span that no convention classifies, with a model call
below it and no run in between, is a run.

Decided when the root arrives. A root ends after everything below it, so its model calls
came in the same request or earlier; those stored earlier wait under a stand-in named
after the root (collector/rootless_runs.py), which the root's run row then replaces, as
any late run span does. A lone model call (the root itself) stays a step of no run.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from collector.decode import SpanRecord
from collector.mapping import SpanClass, is_pending
from collector.nearest_runs import SpanKey
from collector.run_links import STAND_IN

__all__ = ["program_roots_as_runs"]

# What a walk up from a span found: the root reached with no run on the way, or None.
_Top = SpanKey | None


def program_roots_as_runs(
    con: duckdb.DuckDBPyConnection, spans: Sequence[SpanRecord], classes: list[SpanClass]
) -> tuple[list[SpanClass], set[SpanKey]]:
    """``classes`` with each root span holding runless model calls made RUN, and those
    roots."""
    roots = {
        (s.trace_id, s.span_id): i
        for i, (s, c) in enumerate(zip(spans, classes, strict=True))
        if c is SpanClass.OTHER and not s.parent_span_id and not is_pending(s)
    }
    if not roots:
        return classes, set()
    holding = _roots_above_calls(spans, classes)
    waiting = sorted(f"{t}/{s}" for t, s in roots.keys() - holding)
    if waiting:
        holding.update(
            (trace_id, span_id)
            for trace_id, span_id in con.execute(
                "SELECT r.trace_id, r.span_id FROM agent_runs r "
                "WHERE NOT r.is_final AND r.metadata = ? "
                "AND r.trace_id || '/' || r.span_id IN (SELECT unnest(?)) "
                "AND EXISTS (SELECT 1 FROM agent_steps s "
                "WHERE s.agent_run_id = r.id AND s.action_type = ?)",
                [STAND_IN, waiting, SpanClass.LLM.value],
            ).fetchall()
        )
    found = holding & roots.keys()
    if not found:
        return classes, set()
    classes = list(classes)
    for key in found:
        classes[roots[key]] = SpanClass.RUN
    return classes, found


def _roots_above_calls(spans: Sequence[SpanRecord], classes: list[SpanClass]) -> set[SpanKey]:
    """The roots of this batch reached from one of its model calls with no run between."""
    by_key = {
        (s.trace_id, s.span_id): (s, c)
        for s, c in zip(spans, classes, strict=True)
        if not is_pending(s)
    }
    tops: dict[SpanKey, _Top] = {}  # span -> what the walk from it found
    found: set[SpanKey] = set()
    for span, cls in zip(spans, classes, strict=True):
        if cls is SpanClass.LLM and not is_pending(span) and span.parent_span_id:
            top = _walk_up(span.trace_id, span.parent_span_id, by_key, tops)
            if top is not None:
                found.add(top)
    return found


def _walk_up(
    trace_id: str,
    parent_id: str,
    by_key: dict[SpanKey, tuple[SpanRecord, SpanClass]],
    tops: dict[SpanKey, _Top],
) -> _Top:
    """Walk up from ``parent_id``: the root reached, or None at a run, a span not in the
    batch, or a cycle. Each answer is kept for every span passed (one walk per chain)."""
    path: list[SpanKey] = []
    on_path: set[SpanKey] = set()
    key: SpanKey = (trace_id, parent_id)
    answer: _Top
    while True:
        if key in tops:
            answer = tops[key]
            break
        entry = by_key.get(key)
        if entry is None or entry[1] is SpanClass.RUN or key in on_path:
            answer = None
            break
        path.append(key)
        on_path.add(key)
        span = entry[0]
        if not span.parent_span_id:
            answer = key
            break
        key = (trace_id, span.parent_span_id)
    for passed in path:
        tops[passed] = answer
    return answer
