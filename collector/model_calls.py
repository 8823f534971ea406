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
from collector.run_links import STAND_IN
from collector.trace_owned_ids import trace_scoped_id
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
    left_runs: set[str] | None = None,
) -> list[SpanClass]:
    """A model call traced twice is one step: the framework's LLM span, not the client's inside.

    An LLM span whose parent is an LLM span (in this batch, or a stored think step) is kept
    in ``spans`` only; an inner one stored before its parent arrived is removed from steps.
    The runs such a removal took a step from are added to ``left_runs`` (their aggregates
    are stale); a stand-in left with no step is deleted.
    """
    # Span ids are unique only within a trace: every match below is on (trace, span id),
    # so a span of one trace never removes another trace's steps.
    llm = {
        (s.trace_id, s.span_id)
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
    if not foreign_llm and not ({span_id for _, span_id in llm} & foreign_parents.span_ids):
        return classes
    outside = {
        (s.trace_id, s.parent_span_id)
        for s, c in zip(spans, classes, strict=True)
        if c is SpanClass.LLM
        and s.parent_span_id
        and (s.trace_id, s.parent_span_id) not in llm
        and not is_pending(s)
    }
    stored: set[tuple[str, str]] = set()
    if outside:
        # A step's id is its (real) span id, or <id>@<trace> (collector/trace_owned_ids.py):
        # read through the primary key, then keep the step of the same trace.
        ids = sorted({i for trace, span_id in outside for i in _step_ids(trace, span_id)})
        stored = {
            (str(row[0]), str(row[1]))
            for listed, params in map(in_list, chunks(ids))
            for row in con.execute(
                f"SELECT trace_id, span_id FROM agent_steps WHERE id IN ({listed}) "
                "AND action_type = 'think'",
                params,
            ).fetchall()
        } & outside
    outer = llm | stored
    removed_from = con.execute(
        "DELETE FROM agent_steps WHERE action_type = 'think' AND parent_span_id IN "
        "(SELECT unnest(?)) AND trace_id || '/' || parent_span_id IN (SELECT unnest(?)) "
        "RETURNING agent_run_id",
        [sorted({span_id for _, span_id in llm}), sorted(_keys(llm))],
    ).fetchall()
    _settle_runs_left(con, {r[0] for r in removed_from if r[0] is not None}, left_runs)
    inner = {
        (s.trace_id, s.span_id)
        for s, c in zip(spans, classes, strict=True)
        if c is SpanClass.LLM and not is_pending(s) and (s.trace_id, s.parent_span_id) in outer
    }
    if not inner:
        return classes
    # Their pending copies: stored earlier as running steps, or in this very batch.
    con.execute(
        "DELETE FROM agent_steps WHERE id IN (SELECT unnest(?)) "
        "AND trace_id || '/' || span_id IN (SELECT unnest(?))",
        [sorted({i for pair in inner for i in _step_ids(*pair)}), sorted(_keys(inner))],
    )
    result = [
        SpanClass.OTHER
        if (
            (s.trace_id, s.span_id) in inner
            or (is_pending(s) and (s.trace_id, real_span_id(s)) in inner)
        )
        else c
        for s, c in zip(spans, classes, strict=True)
    ]
    return result


def _settle_runs_left(
    con: duckdb.DuckDBPyConnection, run_ids: set[str], left_runs: set[str] | None
) -> None:
    """Runs an inner step was removed from: a stand-in with no step left goes (it stood
    for the outer span, which is a step, not a run); the others are noted for a refresh."""
    if not run_ids:
        return
    con.execute(
        "DELETE FROM agent_runs WHERE id IN (SELECT unnest($1)) AND NOT is_final "
        "AND metadata = $2 AND id NOT IN "
        "(SELECT agent_run_id FROM agent_steps WHERE agent_run_id IN (SELECT unnest($1)))",
        [sorted(run_ids), STAND_IN],
    )
    if left_runs is not None:
        left_runs.update(run_ids)


def _step_ids(trace_id: str, span_id: str) -> tuple[str, str]:
    """The ids the step of this span can have: its own, or scoped to its trace."""
    return span_id, trace_scoped_id(span_id, trace_id)


def _keys(pairs: set[tuple[str, str]]) -> set[str]:
    return {f"{trace}/{span_id}" for trace, span_id in pairs}
