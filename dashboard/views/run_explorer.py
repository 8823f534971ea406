"""The run explorer: the span tree (with its waterfall) beside the selected step's detail.

The selected step lives in the URL (``?run=<id>&step=<number>``), so a link opens
the same step. Search within the run and "errors only" narrow the tree to the
matching steps and their parents.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from dashboard.client import AuditClient, Record
from dashboard.formatting import escape_markdown, format_cost, format_duration_ms, one_line
from dashboard.span_tree import build_tree, filter_tree
from dashboard.tree_component import span_tree
from dashboard.views import api_reads
from dashboard.views.step_detail import step_detail_pane
from dashboard.views.sub_run_steps import calling_steps

__all__ = ["OPEN_OTHER_RUN", "run_explorer", "selected_step_number"]

OPEN_OTHER_RUN = "explorer_open_run"  # a sub-agent run to open on the next full rerun


def selected_step_number() -> int | None:
    """The step number in ``?step=``, if it is one."""
    raw = st.query_params.get("step")
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def _default_selection(run: Record, steps: list[Record]) -> Record | None:
    # A failed run opens on the step that failed; otherwise the run's overview.
    if run.get("status") in ("failed", "lost"):
        failed = [s for s in steps if s.get("status") == "error" or s.get("error")]
        if failed:
            return failed[-1]
    return None


def _on_select(row_key: str, by_key: dict[str, Record]) -> None:
    if row_key.startswith("run:"):
        st.session_state[OPEN_OTHER_RUN] = row_key.removeprefix("run:")
    elif row_key in by_key:
        st.query_params["step"] = str(by_key[row_key].get("step_number"))


def _overview(run: Record, steps: list[Record]) -> None:
    st.markdown("##### Run overview")
    st.caption(
        "Select a step in the tree to see its inputs, outputs, error, tokens, the model's "
        "conversation and the raw span attributes."
    )
    kinds: dict[str, int] = {}
    for step in steps:
        kinds[str(step.get("action_type") or "step")] = (
            kinds.get(str(step.get("action_type") or "step"), 0) + 1
        )
    if kinds:
        st.markdown(
            escape_markdown(" · ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))
        )


def _link(run_id: str, number: object) -> str:
    base = ""
    try:
        base = str(st.context.url or "").split("?")[0]
    except Exception:  # st.context.url is missing outside a browser session
        base = ""
    # The id is whatever the agent sent: quoted, so "&", "#" or "?" in it stay in it.
    return f"{base or '/run'}?{urlencode({'run': run_id, 'step': number})}"


def _tree_key(run_id: str) -> str:
    # A component's key may not hold "__" (Streamlit's delimiter) and a run id may:
    # the key names the run by a digest of its id instead.
    return "tree-" + hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _chosen_step(
    api: AuditClient, run: Record, by_number: dict[object, Record], number: int | None
) -> Record | None:
    """The step ``?step=`` names: among those loaded, or, for a run longer than its
    first 1,000 steps, read alone."""
    if number is None:
        return None
    if number in by_number:
        return by_number[number]
    if run.get("steps_truncated") and 0 < number <= int(run.get("step_count") or 0):
        return api_reads.step(api, str(run.get("id")), number)
    return None


def run_explorer(api: AuditClient, run: Record, steps: list[Record]) -> None:
    """Tree + detail for one run; reads and writes the selected step in the URL."""
    run_id = str(run.get("id"))
    if OPEN_OTHER_RUN in st.session_state:
        st.rerun(scope="app")  # a sub-agent run was clicked: run_page opens it
    children = api_reads.sub_runs(api, run_id)
    layout = build_tree(
        run, steps, children, sub_run_steps=calling_steps(api, run, steps, children)
    )
    by_key: dict[str, dict[str, Any]] = {str(s.get("id")): s for s in steps}
    by_number = {s.get("step_number"): s for s in steps}
    number = selected_step_number()
    if number is None:
        chosen = _default_selection(run, steps)
    else:
        chosen = _chosen_step(api, run, by_number, number)

    search_col, errors_col = st.columns([3, 1], vertical_alignment="bottom")
    query = search_col.text_input(
        "Search in this run",
        key=f"find-{run_id}",
        placeholder="tool, argument, output, error…",
    )
    errors_only = errors_col.toggle("Errors only", key=f"errors-{run_id}")
    rows = filter_tree(layout.rows, by_key, query=query or "", errors_only=errors_only)
    tree_col, detail_col = st.columns([1.15, 1], gap="medium")
    with tree_col:
        span_tree(
            rows,
            run_id=run_id,
            selected=str(chosen.get("id")) if chosen else None,
            ticks=layout.ticks(),
            axis_note=f"{len(rows)} of {len(layout.rows)} · {format_duration_ms(layout.span_ms)}",
            key=_tree_key(run_id),
            on_select=lambda row_key: _on_select(row_key, by_key),
        )
        if query or errors_only:
            st.caption(
                escape_markdown(
                    f"{sum(1 for r in rows if r.key in by_key)} matching steps (with their parents)"
                )
            )
    with detail_col:
        if chosen is None:
            _overview(run, steps)
        else:
            step_detail_pane(
                api,
                chosen,
                link=_link(run_id, chosen.get("step_number")),
                cost=format_cost(chosen.get("cost_usd")) or None,
            )
    if number is not None and chosen is None:
        st.caption(escape_markdown(f"This run has no step {one_line(number, 20)}."))
