"""The live page: agents running now, ticking, with their latest steps; just finished runs."""

from __future__ import annotations

from datetime import UTC, datetime

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
from dashboard.tables import runs_frame
from dashboard.views.connection import guarded, settings
from instrumentation.attributes import RunStatus

__all__ = ["live_board"]

RUNNING_LIMIT = 50
RECENT_STEPS = 3
FINISHED_SHOWN = 10


def _latest_steps(api: AuditClient, run: Record) -> list[Record]:
    count = int(run.get("step_count") or run.get("total_steps") or 0)
    return api.get_steps(str(run["id"]), after_step=max(count - RECENT_STEPS, 0))[-RECENT_STEPS:]


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


def live_board(api: AuditClient) -> None:
    """Running agents and recently finished runs, refreshed every few seconds."""

    @st.fragment(run_every=settings().refresh_s)
    def board() -> None:
        with guarded():
            now = datetime.now(UTC)
            running = api.list_runs(RunFilters(statuses=(RunStatus.RUNNING,)), limit=RUNNING_LIMIT)
            st.caption(f"{running.total} running · updated {now:%H:%M:%S} UTC")
            if not running.runs:
                st.info("No agent is running right now.", icon=":material/bedtime:")
            for run in running.runs:
                _running_card(api, run, now)
            recent = api.list_runs(limit=FINISHED_SHOWN + len(running.runs))
            finished = [r for r in recent.runs if r.get("status") != RunStatus.RUNNING][
                :FINISHED_SHOWN
            ]
            if finished:
                st.markdown("#### Just finished")
                st.dataframe(runs_frame(finished, now), hide_index=True, width="stretch")

    board()
