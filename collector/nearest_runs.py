"""The nearest run above each of many spans of one parents map, at any depth.

``mapping.nearest_run`` walks up from one span and stops after 256 levels (a
guard against parent cycles), so a step more than 256 spans below its run was
stored with no run: a 20,000-deep chain of spans under one run gave that run
256 steps. Here each answer is kept for the spans below it, so a chain of any
depth costs one walk, and a cycle is recognised by meeting itself.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["NearestRuns"]

# (run id or None, final): final is False when the walk left the known spans,
# so an ancestor may still arrive; the same answer as mapping.nearest_run.
Answer = tuple[str | None, bool]
# The answer and, when the walk left the known spans, the first span not known.
_Walk = tuple[str | None, bool, str | None]
_NO_RUN: _Walk = (None, True, None)


class NearestRuns:
    """``of(span_id)`` answers like ``mapping.nearest_run(span_id, parents, run_ids)``,
    without its depth limit. ``parents`` and ``run_ids`` must not change meanwhile."""

    def __init__(self, parents: Mapping[str, str | None], run_ids: Mapping[str, str]) -> None:
        self._parents = parents
        self._run_ids = run_ids
        self._from: dict[str, _Walk] = {}  # span id -> the walk starting at that span

    def of(self, span_id: str) -> Answer:
        """The nearest run strictly above ``span_id``."""
        run_id, final, _ = self._starting_at(self._parents.get(span_id))
        return run_id, final

    def top_missing(self, span_id: str) -> str | None:
        """The first ancestor of ``span_id`` not known, when no run comes before it."""
        return self._starting_at(self._parents.get(span_id))[2]

    def _starting_at(self, first: str | None) -> _Walk:
        """The first run at or above ``first``, walking up once for every span passed."""
        path: list[str] = []
        on_path: set[str] = set()
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
