"""The live page: agents running now, ticking, with their latest steps; just finished runs."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import streamlit as st

from dashboard import routes
from dashboard.client import AuditClient, Conflict, Record, RunFilters
from dashboard.formatting import (
    escape_markdown,
    format_duration_ms,
    one_line,
    run_duration_ms,
    status_badge,
    step_title,
)
from dashboard.tables import runs_frame, runs_styler
from dashboard.views import api_reads
from dashboard.views.connection import guarded, settings
from instrumentation.attributes import RunStatus

__all__ = ["FINISHED_SHOWN", "RECENT_STEPS", "RUNNING_LIMIT", "after_step", "live_board"]

RUNNING_LIMIT = 50
RECENT_STEPS = 3
FINISHED_SHOWN = 10
_FINISHED_TABLE = "live_finished"
_FINISHED_IDS = "live_finished_ids"
_OPEN_RUN = "live_open_run"


def after_step(run: Record) -> int:
    """The step number after which a running run's latest steps are read."""
    count = int(run.get("step_count") or run.get("total_steps") or 0)
    return max(count - RECENT_STEPS, 0)


def _latest_steps(api: AuditClient, run: Record) -> list[Record]:
    return api_reads.steps(api, str(run["id"]), after_step=after_step(run))[-RECENT_STEPS:]


def _running_card(api: AuditClient, run: Record, now: datetime) -> None:
    run_id = str(run.get("id"))
    with st.container(border=True):
        title_col, time_col, action_col = st.columns([5, 1.2, 1.3], vertical_alignment="center")
        title_col.page_link(
            routes.RUN.path,
            label=escape_markdown(
                f"{status_badge(RunStatus.RUNNING)} · {one_line(run.get('task'), 100)}"
            ),
            query_params={"run": run_id},
        )
        time_col.metric("Elapsed", format_duration_ms(run_duration_ms(run, now)))
        if run.get("cancel_requested_at"):
            action_col.caption("cancel requested")
        elif action_col.button("Cancel", key=f"cancel-{run_id}", icon=":material/stop_circle:"):
            try:
                api.cancel_run(run_id, requested_by="dashboard")
                api_reads.forget_all()
                action_col.caption("cancel requested")
            except Conflict:
                action_col.caption("already ended")
        details = [run.get("source"), run.get("model_used") or run.get("model_requested")]
        st.caption(
            escape_markdown(
                " · ".join(one_line(d, 40) for d in details if d)
                + f" · {int(run.get('step_count') or 0)} steps · {run_id}"
            )
        )
        for step in _latest_steps(api, run):
            st.markdown(step_title(step))


def _finished_table(finished: list[Record], now: datetime) -> None:
    frame = runs_frame(finished, now, timezone=st.context.timezone)
    # A link per row (opens in a new tab) and row selection (opens here).
    # The ids themselves: the frame shows them with invisible characters as codes.
    ids = [str(run.get("id") or "") for run in finished]
    frame.insert(0, "Open", [f"/{routes.RUN.url_path}?run={quote(i, safe='')}" for i in ids])
    st.session_state[_FINISHED_IDS] = ids
    st.dataframe(
        runs_styler(frame, finished),
        key=_FINISHED_TABLE,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_order=["Open", "Status", "Started", "Duration", "Agent", "Task", "Steps", "Error"],
        column_config={
            "Open": st.column_config.LinkColumn(
                "Open", display_text="open ↗", width=70, help="Open the run in a new tab"
            ),
            "Status": st.column_config.TextColumn(width=105),
        },
    )
    st.caption("Select a row to open the run.")


def _open_selected() -> None:
    # The page switch happens at the top of live_board, outside the fragment (see
    # views/runs.py for why).
    selection = st.session_state.get(_FINISHED_TABLE)
    rows = list(getattr(getattr(selection, "selection", None), "rows", None) or [])
    if not rows and isinstance(selection, dict):
        rows = list((selection.get("selection") or {}).get("rows") or [])
    shown: list[str] = st.session_state.get(_FINISHED_IDS) or []
    if rows and 0 <= rows[0] < len(shown):
        st.session_state[_OPEN_RUN] = shown[rows[0]]
        st.rerun(scope="app")


def live_board(api: AuditClient) -> None:
    """Running agents and recently finished runs, refreshed every few seconds."""
    target = st.session_state.pop(_OPEN_RUN, None)
    if target:
        st.switch_page(routes.RUN.path, query_params={"run": target})

    @st.fragment(run_every=settings().refresh_s)
    def board() -> None:
        _open_selected()
        with guarded():
            now = datetime.now(UTC)
            running_filter = RunFilters(statuses=(RunStatus.RUNNING,))
            # Both lists at once; then every running run's latest steps at once.
            api_reads.prefetch_runs_page(api, RunFilters(), limit=FINISHED_SHOWN + RUNNING_LIMIT)
            running = api_reads.runs_page(api, running_filter, limit=RUNNING_LIMIT)
            for run in running.runs:
                api_reads.prefetch_steps(api, str(run["id"]), after_step=after_step(run))
            st.caption(f"{running.total} running · updated {now:%H:%M:%S} UTC")
            if not running.runs:
                st.info("No agent is running right now.", icon=":material/bedtime:")
            for run in running.runs:
                _running_card(api, run, now)
            recent = api_reads.runs_page(api, RunFilters(), limit=FINISHED_SHOWN + RUNNING_LIMIT)
            finished = [r for r in recent.runs if r.get("status") != RunStatus.RUNNING][
                :FINISHED_SHOWN
            ]
            if finished:
                st.markdown("#### Just finished")
                _finished_table(finished, now)

    board()
