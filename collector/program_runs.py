"""A program's own span around model calls that no run holds: that span is the run.

A loop written by hand and traced only by an LLM client's instrumentation (OpenLLMetry's,
openai-v2's, Logfire's ``instrument_openai``) inside a span of the program's own (a
script's ``weather_loop``, a ``logfire.span``, a web request's server span) has no span any
convention calls a run, so its model calls would belong to none. A person reading that
trace names the program's unit of work as the run and the model calls as its steps; so
does the collector: a trace's root span that no convention classifies, with a model call
below it and no run in between, is a run.

Decided when the root and its first model calls meet. A root ends after everything below
it, so a live exporter sends its model calls in the same request or earlier; those stored
earlier wait under a stand-in named after the root (collector/rootless_runs.py), which the
root's run row then replaces, as any late run span does. Model calls arriving after their
root was stored (another process exporting later, or a request re-sent out of order) take
the stored root up again as a run, so the order of arrival changes nothing. A lone model
call (the root itself) stays a step of no run.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from collector.decode import SpanRecord
from collector.foreign_runs import stored_span
from collector.guarded_mapping import classify_guarded
from collector.id_lists import chunks
from collector.mapping import SpanClass, is_pending, own_run_id
from collector.nearest_runs import SpanKey, parent_key
from collector.run_links import STAND_IN, StoredParents, trace_graph

__all__ = ["program_roots_as_runs"]

# What a walk up from a span found: the root reached with no run on the way, or None.
_Top = SpanKey | None


def program_roots_as_runs(
    con: duckdb.DuckDBPyConnection,
    spans: Sequence[SpanRecord],
    classes: list[SpanClass],
    stored: StoredParents | None = None,
) -> tuple[list[SpanRecord], list[SpanClass], set[SpanKey]]:
    """``spans`` and ``classes`` with each root holding runless model calls made RUN, and
    those roots. A stored root (not in ``spans``) is added, to be mapped again as a run."""
    by_key = {
        (s.trace_id, s.span_id): (s, c)
        for s, c in zip(spans, classes, strict=True)
        if not is_pending(s)
    }
    parents: dict[SpanKey, SpanKey | None] = {
        key: parent_key(s.trace_id, s.parent_span_id) for key, (s, _) in by_key.items()
    }
    runs = {key for key, (_, c) in by_key.items() if c is SpanClass.RUN}
    calls = [
        key
        for s, c in zip(spans, classes, strict=True)
        # A step naming its run (agent_run.id) is that run's wherever its span hangs.
        if c is SpanClass.LLM and not is_pending(s) and s.parent_span_id and not own_run_id(s)
        for key in [(s.trace_id, s.span_id)]
    ]
    tops: dict[SpanKey, _Top] = {}
    holding = {t for key in calls if (t := _walk_up(parents[key], parents, runs, tops))}
    outside = {key[0] for key in calls if _walk_up(parents[key], parents, runs, tops) is _LEFT}
    if outside:
        # Calls below spans stored earlier: walk on through the stored ones.
        stored_parents, stored_runs = trace_graph(con, outside, stored)
        parents = {**stored_parents, **parents}
        runs |= stored_runs.keys()
        tops = {}
        holding.update(
            t
            for key in calls
            if key[0] in outside and (t := _walk_up(parents[key], parents, runs, tops))
        )
    holding.discard(_LEFT)
    # A root in the batch is the program's when no convention made it anything; a stored
    # one is checked as it is read.
    roots = {key for key in holding if key not in by_key or by_key[key][1] is SpanClass.OTHER}
    roots |= _waiting_under_stand_ins(con, by_key, roots)
    found = {key for key in roots if key in by_key}
    more = _stored_roots(con, roots - found)
    if not found and not more:
        return list(spans), classes, set()
    classes = list(classes)
    for i, span in enumerate(spans):
        if (span.trace_id, span.span_id) in found and not is_pending(span):
            classes[i] = SpanClass.RUN
    added = {(s.trace_id, s.span_id) for s in more}
    return [*spans, *more], [*classes, *(SpanClass.RUN for _ in more)], found | added


def _waiting_under_stand_ins(
    con: duckdb.DuckDBPyConnection,
    by_key: dict[SpanKey, tuple[SpanRecord, SpanClass]],
    known: set[SpanKey],
) -> set[SpanKey]:
    """Roots of this batch whose model calls came earlier: a stand-in named after the root
    holds at least one of them."""
    waiting = sorted(
        f"{t}/{s}"
        for (t, s), (span, cls) in by_key.items()
        if cls is SpanClass.OTHER and not span.parent_span_id and (t, s) not in known
    )
    if not waiting:
        return set()
    return {
        (trace_id, span_id)
        for trace_id, span_id in con.execute(
            "SELECT r.trace_id, r.span_id FROM agent_runs r "
            "WHERE NOT r.is_final AND r.metadata = ? "
            "AND r.trace_id || '/' || r.span_id IN (SELECT unnest(?)) "
            "AND EXISTS (SELECT 1 FROM agent_steps s "
            "WHERE s.agent_run_id = r.id AND s.action_type = ?)",
            [STAND_IN, waiting, SpanClass.LLM.value],
        ).fetchall()
    }


def _stored_roots(con: duckdb.DuckDBPyConnection, keys: set[SpanKey]) -> list[SpanRecord]:
    """The stored root spans of ``keys`` that no convention makes anything of (a root that
    is a step, or a pending copy, is none of the program's)."""
    found: list[SpanRecord] = []
    for chunk in chunks(sorted(f"{t}/{s}" for t, s in keys)):
        rows = con.execute(
            "SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, "
            "status_code, status_message, scope_name, scope_version, resource, attributes, "
            "events FROM spans WHERE trace_id || '/' || span_id IN (SELECT unnest(?)) "
            "AND parent_span_id IS NULL",
            [chunk],
        ).fetchall()
        for row in rows:
            span = stored_span(row)
            if not is_pending(span) and classify_guarded(span) is SpanClass.OTHER:
                found.append(span)
    return found


# A walk's answer when it reached a span not known (stored or in the batch).
_LEFT: SpanKey = ("", "")


def _walk_up(
    first: SpanKey | None,
    parents: dict[SpanKey, SpanKey | None],
    runs: set[SpanKey],
    tops: dict[SpanKey, _Top],
) -> _Top:
    """Walk up from ``first``: the root reached, ``_LEFT`` at a span not known, or None at
    a run or a cycle. Each answer is kept for every span passed (one walk per chain)."""
    path: list[SpanKey] = []
    on_path: set[SpanKey] = set()
    key = first
    answer: _Top
    while True:
        if key is None:
            answer = None  # the call itself is the root: a lone call
            break
        if key in tops:
            answer = tops[key]
            break
        if key in runs or key in on_path:
            answer = None
            break
        if key not in parents:
            answer = _LEFT
            break
        path.append(key)
        on_path.add(key)
        above = parents[key]
        if above is None:
            answer = key
            break
        key = above
    for passed in path:
        tops[passed] = answer
    return answer
