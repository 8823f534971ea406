"""The compare page: two runs side by side, steps aligned, differences highlighted.

Both run ids live in the URL (``/compare?a=<id>&b=<id>``), so a comparison can be
shared as a link.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import routes
from dashboard.client import AuditClient, DashboardError, NotFound, Record
from dashboard.compare import StepPair, align_steps, differs_label, step_label, text_diff
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
    visible_text,
)
from dashboard.views import api_reads

__all__ = ["compare_page", "compare_picker", "pairs_frame"]

DIFF_STYLE = "background-color: rgba(255, 164, 33, 0.28)"
ONLY_STYLE = "background-color: rgba(128, 132, 149, 0.22)"


def _load(api: AuditClient, run_id: str) -> tuple[Record, list[Record]] | None:
    try:
        full = api_reads.run(api, run_id)
    except NotFound:
        st.warning(
            escape_markdown(f"No run with id {one_line(run_id, 80)}."), icon=":material/search_off:"
        )
        return None
    steps = sorted(full.pop("steps", None) or [], key=lambda s: int(s.get("step_number") or 0))
    return full, steps


def pairs_frame(pairs: list[StepPair]) -> pd.DataFrame:
    """The aligned steps as a table: A's step, B's step, durations and what differs."""
    rows = []
    for pair in pairs:
        a, b = pair.a or {}, pair.b or {}
        rows.append(
            {
                "Differs": differs_label(pair),
                "A #": a.get("step_number"),
                "A step": step_label(pair.a),
                "A took": format_duration_ms(a.get("duration_ms")) if pair.a else "",
                "B #": b.get("step_number"),
                "B step": step_label(pair.b),
                "B took": format_duration_ms(b.get("duration_ms")) if pair.b else "",
            }
        )
    frame = pd.DataFrame(
        rows, columns=["Differs", "A #", "A step", "A took", "B #", "B step", "B took"]
    )
    for column in ("A #", "B #"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _styled(frame: pd.DataFrame, pairs: list[StepPair]) -> Any:
    styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for index, pair in enumerate(pairs):
        if pair.only_in:
            styles.loc[index, :] = ONLY_STYLE
        elif pair.differs:
            styles.loc[index, "Differs"] = DIFF_STYLE
            if "tool" in pair.differs or "arguments" in pair.differs or "output" in pair.differs:
                styles.loc[index, ["A step", "B step"]] = DIFF_STYLE
            if "duration" in pair.differs:
                styles.loc[index, ["A took", "B took"]] = DIFF_STYLE
    return frame.style.apply(lambda _: styles, axis=None)


def _tokens(run: Record) -> int:
    return int(run.get("input_tokens") or 0) + int(run.get("output_tokens") or 0)


def _summary(
    column: Any, label: str, run: Record, steps: list[Record], other: Record | None
) -> None:
    with column:
        st.markdown(f"**{label}** · {escape_markdown(one_line(run.get('task'), 120))}")
        status = str(run.get("status") or "")
        st.badge(
            STATUS_BADGES.get(status, "· unknown status"),
            color=STATUS_COLORS.get(status, "gray"),  # type: ignore[arg-type]
            help=STATUS_EXPLANATIONS.get(status),
        )
        st.caption(
            escape_markdown(
                f"{format_time(run.get('started_at'))} · "
                f"{one_line(run.get('agent_name') or '–', 40)} · "
                f"{one_line(run.get('model_used') or run.get('model_requested') or '–', 40)}"
            )
        )
        duration = run_duration_ms(run)
        tokens = _tokens(run)
        delta_duration = delta_tokens = delta_steps = None
        if other is not None:
            other_duration = run_duration_ms(other)
            if duration is not None and other_duration is not None:
                delta_duration = format_duration_ms(abs(duration - other_duration))
                delta_duration = ("+" if duration >= other_duration else "-") + delta_duration
            other_tokens = int(other.get("input_tokens") or 0) + int(
                other.get("output_tokens") or 0
            )
            delta_tokens = tokens - other_tokens
            delta_steps = len(steps) - int(other.get("step_count") or 0)
        metrics = st.columns(4)
        metrics[0].metric(
            "Duration", format_duration_ms(duration), delta_duration, delta_color="inverse"
        )
        metrics[1].metric("Steps", len(steps), delta_steps, delta_color="off")
        metrics[2].metric("Tokens", f"{tokens:,}", delta_tokens, delta_color="inverse")
        metrics[3].metric("Cost", format_cost(run.get("cost_usd")) or "–")


def _pair_details(pairs: list[StepPair]) -> None:
    changed = [p for p in pairs if p.differs]
    if not changed:
        st.success("The steps match: same tools, arguments, outputs and status.")
        return
    st.markdown(f"#### What differs ({len(changed)} of {len(pairs)} aligned steps)")
    for index, pair in enumerate(changed):
        a, b = pair.a or {}, pair.b or {}
        title = f"A {a.get('step_number', '–')} ↔ B {b.get('step_number', '–')}: " + (
            f"only in {pair.only_in.upper()}" if pair.only_in else ", ".join(pair.differs)
        )
        with st.expander(escape_markdown(title), expanded=index < 3):
            left, right = st.columns(2)
            for column, step, label in ((left, pair.a, "A"), (right, pair.b, "B")):
                with column:
                    if step is None:
                        st.caption(f"No step here in {label}.")
                        continue
                    st.caption(escape_markdown(f"{label}: {step_label(step)}"))
                    if step.get("error"):
                        st.code(visible_text(step["error"]), wrap_lines=True)
            if pair.a and pair.b:
                for name, key in (("arguments", "tool_args"), ("output", "tool_result")):
                    if name in pair.differs:
                        st.markdown(f"**{name.capitalize()}** (A → B)")
                        diff = visible_text(text_diff(pair.a.get(key), pair.b.get(key)))
                        long = diff.count("\n") > 15
                        st.code(diff, language="diff", height=300 if long else "content")


def compare_picker(api: AuditClient, run: Record) -> None:
    """On a run page: compare this run with another (recent good runs of the same agent)."""
    try:
        recent = api_reads.recent_good_runs(api, run.get("agent_name") or None)
    except DashboardError:
        # Suggestions only: without them a run id can still be pasted, and the rest of
        # the run page (an agent name too long to filter by, say) is still drawn.
        recent = []
    candidates = [r for r in recent if r.get("id") != run.get("id")]
    options = {str(r.get("id")): r for r in candidates}
    pick_col, link_col = st.columns([3, 1], vertical_alignment="bottom")
    other = pick_col.selectbox(
        "Compare with",
        list(options),
        index=0 if options else None,
        format_func=lambda rid: (
            one_line(
                f"{STATUS_BADGES.get(str(options[rid].get('status')), '')} · "
                f"{format_time(options[rid].get('started_at'))} · {options[rid].get('task') or ''}",
                90,
            )
            if rid in options
            else rid
        ),
        key=f"compare-with-{run.get('id')}",
        accept_new_options=True,
        placeholder="a run id",
        help="Recent completed runs of the same agent; or paste any run id",
    )
    if other:
        link_col.page_link(
            routes.COMPARE.path,
            label="Compare",
            icon=":material/compare_arrows:",
            query_params={"a": str(run.get("id")), "b": str(other)},
        )


def compare_page(api: AuditClient) -> None:
    """Two run ids from the URL (``a`` and ``b``), their summaries and aligned steps."""
    left, right = st.columns(2)
    id_a = left.text_input("Run A", key="a", bind="query-params", placeholder="run id")
    id_b = right.text_input("Run B", key="b", bind="query-params", placeholder="run id")
    if not id_a or not id_b:
        st.info(
            "Pick two runs: open a run and use **Compare with**, or paste two run ids.",
            icon=":material/compare_arrows:",
        )
        return
    api_reads.prefetch_run(api, id_b.strip())  # both runs are read at once
    loaded_a, loaded_b = _load(api, id_a.strip()), _load(api, id_b.strip())
    if loaded_a is None or loaded_b is None:
        return
    (run_a, steps_a), (run_b, steps_b) = loaded_a, loaded_b
    _summary(left, "A", run_a, steps_a, None)
    _summary(right, "B", run_b, steps_b, run_a)
    pairs = align_steps(steps_a, steps_b)
    st.markdown("#### Steps, aligned")
    for label, run, steps in (("A", run_a, steps_a), ("B", run_b, steps_b)):
        if run.get("steps_truncated"):
            st.caption(
                f"Run {label} has {int(run.get('step_count') or 0):,} steps: only its first "
                f"{len(steps):,} (what its run page holds) are aligned."
            )
    frame = pairs_frame(pairs)
    st.dataframe(_styled(frame, pairs), hide_index=True, width="stretch", key="compare_table")
    _pair_details(pairs)
    answer_a, answer_b = run_a.get("final_answer"), run_b.get("final_answer")
    if answer_a or answer_b:
        st.markdown("#### Final answers")
        a_col, b_col = st.columns(2)
        a_col.text(visible_text(answer_a or "(none)"))
        b_col.text(visible_text(answer_b or "(none)"))
        if answer_a != answer_b:
            st.code(visible_text(text_diff(answer_a, answer_b)), language="diff")
