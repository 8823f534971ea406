"""Where a span that never ended sat, told by its pending copy.

A pending copy (instrumentation/pending.py) names the real span's parent in
``agent_audit.pending_real_parent_id``. When the real span never arrives (a
framework that leaves it open on Ctrl-C: the OpenAI Agents SDK's ``turn``), the
spans below it are placed through that link instead of under a stand-in of
their own. Only spans that cannot be runs are linked through: a run-like span
that never ended is where its steps' stand-in belongs (collector/rootless_runs.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from collector.decode import SpanRecord
from collector.mapping import is_pending, pending_real_parent
from collector.nearest_runs import SpanKey
from instrumentation import attributes as A

__all__ = ["pending_link", "run_like", "stored_pending_links"]

# traceloop.span.kind values that are runs (collector/rules/traceloop.py).
_TRACELOOP_RUN_KINDS = frozenset({"workflow", "agent"})
_TRACELOOP_SPAN_KIND = "traceloop.span.kind"


def run_like(
    oi_kind: object, operation: object, has_run_id: bool, traceloop_kind: object = None
) -> bool:
    """Whether a span with these attributes is, or may be, a run."""
    return (
        has_run_id
        or (isinstance(oi_kind, str) and oi_kind.upper() == "AGENT")
        or operation in A.RUN_OPERATIONS
        or traceloop_kind in _TRACELOOP_RUN_KINDS
    )


def pending_link(span: SpanRecord) -> tuple[str, str] | None:
    """(real span id, its parent) from a pending copy of a span that cannot be a run."""
    if not is_pending(span):
        return None
    parent = pending_real_parent(span)
    attrs: Mapping[str, object] = span.attributes
    if parent is None or run_like(
        attrs.get(A.OPENINFERENCE_SPAN_KIND),
        attrs.get(A.GEN_AI_OPERATION_NAME),
        A.RUN_ID in attrs,
        attrs.get(_TRACELOOP_SPAN_KIND),
    ):
        return None
    real = span.attributes.get(A.PENDING_PARENT_ID) or span.parent_span_id
    return (real.lower(), parent) if isinstance(real, str) and real else None


# The pending copies of spans not stored (their real span never ended, or not yet): found
# by parent id (a copy's parent is its real span), so only their attributes are read.
_STORED_LINKS = f"""
    SELECT trace_id, parent_span_id,
           json_extract_string(attributes, '$."{A.PENDING_REAL_PARENT_ID}"'),
           json_extract_string(attributes, '$."{A.OPENINFERENCE_SPAN_KIND}"'),
           json_extract_string(attributes, '$."{A.GEN_AI_OPERATION_NAME}"'),
           json_extract_string(attributes, '$."{A.RUN_ID}"') IS NOT NULL,
           json_extract_string(attributes, '$."{_TRACELOOP_SPAN_KIND}"')
    FROM spans
    WHERE trace_id IN (SELECT unnest(?)) AND parent_span_id IN (SELECT unnest(?))
      AND start_ns = end_ns
"""
_COPIED = """
    SELECT DISTINCT trace_id, parent_span_id FROM spans
    WHERE trace_id IN (SELECT unnest(?)) AND start_ns = end_ns AND parent_span_id IS NOT NULL
"""
# A chain of spans that never ended is followed this many levels up at most.
_MAX_LEVELS = 16


def stored_pending_links(
    con: duckdb.DuckDBPyConnection,
    trace_ids: list[str],
    parents: Mapping[SpanKey, SpanKey | None],
) -> dict[SpanKey, SpanKey]:
    """Real span -> its parent, from the stored pending copies of the spans that
    ``parents`` (span -> parent, of these traces) names but does not hold, and that
    cannot be runs; followed up while the parents they name are missing too.

    A copy speaks only for a span of its own trace."""
    links: dict[SpanKey, SpanKey] = {}
    missing = {p for p in parents.values() if p and p not in parents}
    if missing:
        # The spans some first pending copy stands for: a cheap read (no attributes) that
        # keeps the attributes' read to the copies of missing spans.
        copied = {
            (str(trace), str(real).lower())
            for trace, real in con.execute(_COPIED, [trace_ids]).fetchall()
            if real is not None
        }
        missing &= copied
    for _ in range(_MAX_LEVELS):
        if not missing:
            break
        found: dict[SpanKey, SpanKey] = {}
        for trace, real, parent, oi_kind, operation, has_run_id, tl_kind in con.execute(
            _STORED_LINKS, [trace_ids, sorted({span_id for _, span_id in missing})]
        ).fetchall():
            key = (str(trace), str(real).lower())
            if key not in missing:
                continue  # another trace's span of the same id
            if parent and not run_like(oi_kind, operation, bool(has_run_id), tl_kind):
                found[key] = (key[0], str(parent).lower())
        links.update(found)
        missing = {p for p in found.values() if p not in parents and p not in links} & copied
    return links
