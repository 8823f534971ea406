"""Which step of a run started each of its sub-agent runs, from the stored spans' parents.

A sub-agent run's span sits under the step that called it (an agent used as a
tool, a handoff), often with a framework's wrapper span or two in between. The
run records do not name that step, so its span's ancestors are read through
``GET /spans/{trace_id}/{span_id}`` (a few per sub-run, kept in the shared cache:
a span's parent never changes) until one is a step of the run.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashboard.client import ApiError, AuditClient, Record
from dashboard.reads import shared_reads
from dashboard.views.api_reads import FINISHED_RUN_TTL_S

__all__ = ["calling_steps"]

MAX_HOPS = 4  # wrapper spans between a calling step and the sub-run it starts
MAX_SUB_RUNS = 25  # beyond this many sub-runs, the rest stay at the tree's top level


def _parent_span(api: AuditClient, trace_id: str, span_id: str) -> str | None:
    def fetch() -> str | None:
        try:
            parent = api.span(trace_id, span_id).get("parent_span_id")
        except ApiError:  # not stored (yet, or removed by retention): no link
            return None
        return str(parent) if parent else None

    return shared_reads().get(
        ("span-parent", api.base_url, trace_id, span_id), fetch, FINISHED_RUN_TTL_S
    )


def calling_steps(
    api: AuditClient, run: Record, steps: Sequence[Record], sub_runs: Sequence[Record]
) -> dict[str, str]:
    """Sub-run id -> id of the step of ``run`` whose span it runs under, where one is found."""
    step_by_span = {str(s["span_id"]): str(s.get("id")) for s in steps if s.get("span_id")}
    run_span = str(run.get("span_id") or "")
    found: dict[str, str] = {}
    for child in list(sub_runs)[:MAX_SUB_RUNS]:
        trace_id, span_id = child.get("trace_id"), child.get("span_id")
        if not trace_id or not span_id or trace_id != run.get("trace_id"):
            continue
        current: str | None = str(span_id)
        for _ in range(MAX_HOPS):
            current = _parent_span(api, str(trace_id), current) if current else None
            if current is None or current == run_span:
                break  # reached the run itself: the sub-run stays at the top level
            if current in step_by_span:
                found[str(child.get("id"))] = step_by_span[current]
                break
    return found
