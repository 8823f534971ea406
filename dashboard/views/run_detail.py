"""The run page: header, cancel, the failed step, the explorer, final answer, steps; live.

While the run is running, a fragment refreshes it every few seconds: the header
from the list of running runs, the steps by asking only for steps after the last
finished one (``/steps?after_step=``). When the run ends, the page reruns once in
full and stops refreshing. A run of more steps than the API's run page holds
(1,000) shows those first ones with a note saying how many there are in all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from dashboard import routes
from dashboard.client import AuditClient, Conflict, NotFound, Record, RunFilters
from dashboard.formatting import (
    STATUS_BADGES,
    STATUS_COLORS,
    STATUS_EXPLANATIONS,
    escape_markdown,
    format_cost,
    format_duration_ms,
    format_time,
    one_line,
    run_duration_ms,
    sub_run_summary,
    visible_json,
    visible_text,
)
from dashboard.json_reading import json_or_text
from dashboard.views import api_reads
from dashboard.views.annotate import annotation_panel
from dashboard.views.compare_runs import compare_picker
from dashboard.views.connection import guarded, settings
from dashboard.views.run_explorer import OPEN_OTHER_RUN, run_explorer
from dashboard.views.steps import RUN_RECORD, failed_step_banner, render_steps, show_code
from instrumentation.attributes import RunStatus, StepStatus

__all__ = ["LiveRun", "load_run", "refresh_run", "run_page"]

RUNNING_LIST_LIMIT = 200
LOG_STEPS_SHOWN = 25  # steps drawn in the log below the explorer before "show all"
# A run of more steps sends only the titles of its closed log entries (see render_steps).
EAGER_LOG_STEPS = 5


@dataclass
class LiveRun:
    """What the page shows of one run; refreshed in place while it runs."""

    run: Record
    steps: list[Record] = field(default_factory=list)
    fresh: bool = True  # just loaded in full by the page; the first fragment pass reuses it


def load_run(api: AuditClient, run_id: str) -> LiveRun:
    """The run and its steps, the first 1,000 of a longer run (a finished run is reused
    for a few seconds)."""
    full = api_reads.run(api, run_id)
    steps = list(full.pop("steps", None) or [])
    return LiveRun(run=full, steps=sorted(steps, key=_step_order))


def _step_order(step: Record) -> tuple[int, str]:
    return int(step.get("step_number") or 0), str(step.get("started_at") or "")


def refresh_run(api: AuditClient, current: LiveRun) -> LiveRun:
    """Bring a running run up to date with as little transfer as the API allows."""
    run_id = str(current.run.get("id"))
    running = api.list_runs(RunFilters(statuses=(RunStatus.RUNNING,)), limit=RUNNING_LIST_LIMIT)
    header = next((r for r in running.runs if r.get("id") == run_id), None)
    if header is None:
        return load_run(api, run_id)  # it ended (or is past the first page): the full record
    if current.run.get("steps_truncated"):
        # The page shows only a long run's first steps: keep them, refresh the header.
        return LiveRun(run={**header, "steps_truncated": True}, steps=current.steps, fresh=False)
    unfinished = [
        int(s.get("step_number") or 0)
        for s in current.steps
        if s.get("status") == StepStatus.RUNNING
    ]
    numbers = [int(s.get("step_number") or 0) for s in current.steps]
    after = min(unfinished) - 1 if unfinished else max(numbers, default=0)
    by_id = {str(s.get("id")): s for s in current.steps}
    for step in api.get_steps(run_id, after_step=max(after, 0)):
        by_id[str(step.get("id"))] = step
    steps = sorted(by_id.values(), key=_step_order)
    expected = header.get("step_count")
    if expected is not None and int(expected) != len(steps):
        # Steps are numbered by start time; a late arrival renumbers them: reload all.
        return load_run(api, run_id)
    return LiveRun(run=dict(header), steps=steps, fresh=False)


def _fields(run: Record) -> None:
    fields = [
        ("Started", format_time(run.get("started_at"))),
        ("Completed", format_time(run.get("completed_at")) if run.get("completed_at") else None),
        ("Model requested", run.get("model_requested")),
        ("Model used", run.get("model_used")),
        ("Backend", run.get("backend")),
        ("Provider", run.get("provider")),
        ("Source", run.get("source")),
        ("Triggered by", run.get("triggered_by")),
        ("Agent", run.get("agent_name")),
        ("Service", run.get("service_name")),
        ("Working directory", run.get("working_directory")),
        ("Trace id", run.get("trace_id")),
    ]
    lines: list[list[str]] = [[], [], []]
    for index, (label, value) in enumerate(fields):
        shown = escape_markdown(one_line(value, 100)) if value not in (None, "") else "–"
        lines[index % 3].append(f"**{label}** · {shown}")
    # One Markdown element per column (lines ending in a backslash break), not one per
    # field: every element costs the browser a render when the page opens.
    for column, column_lines in zip(
        st.expander("Run details", icon=":material/info:").columns(3), lines, strict=True
    ):
        column.markdown("\\\n".join(column_lines))
    # As code, not Markdown: copied, it is the id itself (escaping would add characters
    # after a ":" or an "@", and Streamlit rewrites ":material/...:" even in a code span).
    st.caption("Run id")
    st.code(visible_text(run.get("id")), language=None, wrap_lines=True)


def _header(run: Record, steps: list[Record]) -> None:
    task = str(run.get("task") or "(no task)")
    st.subheader(escape_markdown(one_line(task, 160)))
    if len(task) > 160 or "\n" in task:
        with st.expander("Full task"):
            st.text(visible_text(task))
    status = str(run.get("status") or "")
    # Only known statuses reach the badge: its label is Markdown that ignores escapes.
    label = STATUS_BADGES.get(status, "· unknown status")
    st.badge(label, color=STATUS_COLORS.get(status, "gray"))  # type: ignore[arg-type]
    if status in ("max_steps", "lost", "cancelled"):
        st.info(STATUS_EXPLANATIONS[status], icon=":material/info:")
    tokens_in, tokens_out = run.get("input_tokens"), run.get("output_tokens")
    failed_steps = sum(1 for s in steps if s.get("status") == "error")
    metric_cols = st.columns(5)
    metric_cols[0].metric("Duration", format_duration_ms(run_duration_ms(run)))
    counted = int(run.get("step_count") or 0)
    metric_cols[1].metric("Steps", counted if run.get("steps_truncated") else len(steps) or counted)
    metric_cols[2].metric("Failed steps", failed_steps)
    metric_cols[3].metric(
        "Tokens in / out",
        f"{tokens_in or 0:,} / {tokens_out or 0:,}" if tokens_in or tokens_out else "–",
    )
    metric_cols[4].metric(
        "Cost",
        format_cost(run.get("cost_usd")) or "–",
        help="Tokens times the model's price; local models cost 0, unknown models are blank",
    )
    family = sub_run_summary(run.get("sub_run_totals"))
    if family:
        st.caption(escape_markdown(family))
    _fields(run)
    if run.get("error") and run.get("status") != RunStatus.FAILED:
        st.warning("Error recorded on the run:", icon=":material/warning:")
        show_code(visible_text(run["error"]), rest=RUN_RECORD)
    metadata = run.get("metadata")
    if metadata:
        with st.expander("Metadata"):
            # JSON text: parsed before its strings are shown (too deep: shown as text).
            metadata = json_or_text(metadata)
            if isinstance(metadata, str):
                show_code(visible_text(metadata), rest=RUN_RECORD)
            else:
                st.json(visible_json(metadata), expanded=True)


def _cancel_controls(api: AuditClient, run: Record) -> None:
    if run.get("status") != RunStatus.RUNNING:
        return
    requested_at = run.get("cancel_requested_at")
    if requested_at:
        who = run.get("cancel_requested_by") or "someone"
        st.info(
            escape_markdown(
                f"Cancel requested at {format_time(requested_at)} by {one_line(who, 60)}; "
                "waiting for the agent to stop."
            ),
            icon=":material/hourglass_top:",
        )
        return
    if st.button("Cancel run", type="primary", icon=":material/stop_circle:", key="cancel_run"):
        try:
            answer = api.cancel_run(str(run.get("id")), requested_by="dashboard")
            api_reads.forget_all()
        except Conflict:
            st.warning("The run is no longer running.")
        else:
            st.success(
                escape_markdown(
                    f"Cancel requested at {format_time(answer.get('requested_at'))}; "
                    "the agent stops at its next step."
                ),
                icon=":material/stop_circle:",
            )


def _final_answer(run: Record) -> None:
    answer = run.get("final_answer")
    if answer in (None, ""):
        return
    st.markdown("#### Final answer")
    st.text(visible_text(answer))


def _ask_for_run_id() -> None:
    st.subheader("Open a run")
    run_id = st.text_input("Run id", key="run_id_input", placeholder="paste a run id")
    if run_id.strip():
        st.query_params["run"] = run_id.strip()
        st.rerun()
    st.caption("Or pick one on the Runs page.")


def run_page(api: AuditClient, run_id: str | None) -> None:
    """The whole run page for ``run_id`` (from ``?run=``)."""
    target = st.session_state.pop(OPEN_OTHER_RUN, None)
    if target:
        st.query_params.clear()
        st.query_params["run"] = target
        run_id = target
    st.page_link(routes.RUNS.path, label="All runs", icon=":material/arrow_back:")
    if not run_id:
        _ask_for_run_id()
        return
    state_key = f"live-run:{run_id}"
    # Read what the page shows below the header while the run itself is read.
    api_reads.prefetch_sub_runs(api, run_id)
    api_reads.prefetch_run_annotations(api, run_id)
    try:
        st.session_state[state_key] = load_run(api, run_id)
    except NotFound:
        st.warning(
            escape_markdown(f"No run with id {one_line(run_id, 80)}."), icon=":material/search_off:"
        )
        return
    live = st.session_state[state_key].run.get("status") == RunStatus.RUNNING

    @st.fragment(run_every=settings().refresh_s if live else None)
    def body() -> None:
        with guarded():
            state: LiveRun = st.session_state[state_key]
            if state.fresh:
                state.fresh = False
            else:
                state = refresh_run(api, state)
                st.session_state[state_key] = state
            if live and state.run.get("status") != RunStatus.RUNNING:
                st.rerun()  # the run ended: render once more in full, without the timer
            _render(api, state)

    body()


def _render(api: AuditClient, state: LiveRun) -> None:
    run, steps = state.run, state.steps
    _header(run, steps)
    _cancel_controls(api, run)
    failed_step_banner(run, steps)
    if run.get("status") != "running":
        compare_picker(api, run)
    run_explorer(api, run, steps)
    _final_answer(run)
    annotation_panel(api, str(run.get("id")))
    st.markdown(f"#### Steps ({len(steps)})")
    if run.get("steps_truncated"):
        st.info(_truncated_note(run, steps), icon=":material/format_list_numbered:")
    st.caption("Every step in order, as a log; failed steps start open.")
    shown = steps
    if len(steps) > LOG_STEPS_SHOWN and not st.toggle(
        f"Show all {len(steps)} steps in the log", key=f"full-log-{run.get('id')}"
    ):
        # A long run's log is heavy to draw; the tree above shows every step already.
        first = steps[:LOG_STEPS_SHOWN]
        shown = first + [s for s in steps[LOG_STEPS_SHOWN:] if s.get("status") == "error"]
        st.caption(f"The first {LOG_STEPS_SHOWN} steps and every failed one.")
    render_steps(shown, lazy=len(steps) > EAGER_LOG_STEPS)


def _truncated_note(run: Record, steps: list[Record]) -> str:
    total = int(run.get("step_count") or run.get("total_steps") or 0)
    last = int(steps[-1].get("step_number") or 0) if steps else 0
    return (
        f"This run has {total:,} steps; the page shows the first {len(steps):,}. "
        f"`agent-audit show` prints them all, and `GET /agent/runs/{{id}}/steps"
        f"?after_step={last}` reads the rest a page at a time."
    )
