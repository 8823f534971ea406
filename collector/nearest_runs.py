"""The nearest run above each of many spans of one parents map, at any depth.

``mapping.nearest_run`` walks up from one span and stops after 256 levels (a
guard against parent cycles), so a step more than 256 spans below its run was
stored with no run: a 20,000-deep chain of spans under one run gave that run
256 steps. Here each answer is kept for the spans below it, so a chain of any
depth costs one walk, and a cycle is recognised by meeting itself.

Spans are keyed by (trace id, span id): OpenTelemetry makes a span id unique only
within its trace, so a parent link read by span id alone led from one trace's span
into another trace's run when their stored spans were looked up together.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["NearestRuns", "SpanKey", "parent_key"]

# (trace id, span id): what names a span.
SpanKey = tuple[str, str]

# (run id or None, final): final is False when the walk left the known spans,
# so an ancestor may still arrive; the same answer as mapping.nearest_run.
Answer = tuple[str | None, bool]
# The answer and, when the walk left the known spans, the first span not known.
_Walk = tuple[str | None, bool, SpanKey | None]
_NO_RUN: _Walk = (None, True, None)


class NearestRuns:
    """``of(span)`` answers like ``mapping.nearest_run``, without its depth limit.

    ``parents``: span -> its parent (in the same trace, see :func:`parent_key`);
    ``run_ids``: run span -> its run id. Neither may change meanwhile."""

    def __init__(
        self, parents: Mapping[SpanKey, SpanKey | None], run_ids: Mapping[SpanKey, str]
    ) -> None:
        self._parents = parents
        self._run_ids = run_ids
        self._from: dict[SpanKey, _Walk] = {}  # span -> the walk starting at that span

    def of(self, span: SpanKey) -> Answer:
        """The nearest run strictly above ``span``."""
        run_id, final, _ = self._starting_at(self._parents.get(span))
        if run_id is not None and run_id == self._run_ids.get(span):
            # The walk came back to the run itself (its parent is one of its own
            # steps): a cycle has no run above it, and a run is never its own parent.
            return None, True
        return run_id, final

    def top_missing(self, span: SpanKey) -> str | None:
        """The span id of the first ancestor of ``span`` not known, when no run comes
        before it."""
        missing = self._starting_at(self._parents.get(span))[2]
        return missing[1] if missing is not None else None

    def _starting_at(self, first: SpanKey | None) -> _Walk:
        """The first run at or above ``first``, walking up once for every span passed."""
        path: list[SpanKey] = []
        on_path: set[SpanKey] = set()
        current = first
        while True:
            if current is None:
                answer = _NO_RUN
                break
            if current in self._from:
                answer = self._from[current]
                break
            if current in self._run_ids:
                answer = (self._run_ids[current], True, None)
                break
            if current not in self._parents:
                answer = (None, False, current)
                break
            if current in on_path:  # a parent cycle: no run above any span on it
                answer = _NO_RUN
                break
            path.append(current)
            on_path.add(current)
            current = self._parents[current]
        for span_id in path:
            self._from[span_id] = answer
        return answer


def parent_key(trace_id: str, parent_span_id: str | None) -> SpanKey | None:
    """The key of a span's parent: a parent is in its child's trace."""
    return (trace_id, parent_span_id) if parent_span_id else None
