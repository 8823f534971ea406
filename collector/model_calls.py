"""One step per model call, when a framework's LLM span wraps an HTTP client's.

A model call traced twice (the framework's span and, inside it, the client
library's) is stored as one think step: the outer one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from collector.decode import SpanRecord
from collector.id_lists import chunks, in_list
from collector.mapping import SpanClass, is_pending, real_span_id
from instrumentation import attributes as A

__all__ = ["ForeignLlmParents", "one_step_per_model_call"]


@dataclass
class ForeignLlmParents:
    """Parents of recently stored foreign LLM spans: an outer model-call span
    arriving later must absorb them. Bounded."""

    span_ids: set[str] = field(default_factory=set)

    def remember(self, spans: Sequence[SpanRecord], classes: list[SpanClass]) -> None:
        for span, cls in zip(spans, classes, strict=True):
            if cls is SpanClass.LLM and span.parent_span_id and A.RUN_ID not in span.attributes:
                self.span_ids.add(span.parent_span_id)
        if len(self.span_ids) > 100_000:
            self.span_ids.clear()  # rare pairs; a restart forgets them too


def one_step_per_model_call(
    con: duckdb.DuckDBPyConnection,
    spans: Sequence[SpanRecord],
    classes: list[SpanClass],
    foreign_parents: ForeignLlmParents,
) -> list[SpanClass]:
    """A model call traced twice is one step: the framework's LLM span, not the client's inside.

    An LLM span whose parent is an LLM span (in this batch, or a stored think step) is kept
    in ``spans`` only; an inner one stored before its parent arrived is removed from steps.
    """
    llm = {
        s.span_id
        for s, c in zip(spans, classes, strict=True)
        if c is SpanClass.LLM and not is_pending(s)
    }
    if not llm:
        return classes
    # The inner span of a doubly traced call is always another instrumentation's
    # (an HTTP client's); the outer one may be ours. Skip the table lookups when
    # neither side of such a pair can be in this batch.
    foreign_llm = any(
        c is SpanClass.LLM and A.RUN_ID not in s.attributes
        for s, c in zip(spans, classes, strict=True)
    )
    if not foreign_llm and not (llm & foreign_parents.span_ids):
        return classes
    outside = {
        s.parent_span_id
        for s, c in zip(spans, classes, strict=True)
        if c is SpanClass.LLM
        and s.parent_span_id
        and s.parent_span_id not in llm
        and not is_pending(s)
    }
    stored: set[str] = set()
    if outside:
        # A step's id is its (real) span id: read through the primary key.
        stored = {
            row[0]
            for listed, params in map(in_list, chunks(sorted(outside)))
            for row in con.execute(
                f"SELECT id FROM agent_steps WHERE id IN ({listed}) AND action_type = 'think'",
                params,
            ).fetchall()
        }
    outer = llm | stored
    con.execute(
        "DELETE FROM agent_steps WHERE action_type = 'think' AND parent_span_id IN "
        "(SELECT unnest(?))",
        [sorted(llm)],
    )
    inner = {
        s.span_id
        for s, c in zip(spans, classes, strict=True)
        if c is SpanClass.LLM and not is_pending(s) and s.parent_span_id in outer
    }
    if not inner:
        return classes
    # Their pending copies: stored earlier as running steps, or in this very batch.
    con.execute("DELETE FROM agent_steps WHERE id IN (SELECT unnest(?))", [sorted(inner)])
    result = [
        SpanClass.OTHER
        if (s.span_id in inner or (is_pending(s) and real_span_id(s) in inner))
        else c
        for s, c in zip(spans, classes, strict=True)
    ]
    return result
