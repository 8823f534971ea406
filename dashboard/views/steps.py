"""One run's steps: expandable, with arguments, folded results, thinking and errors.

Stored values are shown with ``st.code``/``st.text`` (never as HTML, never as
Markdown), so whatever an agent or a tool wrote is displayed, not interpreted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from dashboard.formatting import (
    escape_markdown,
    fold_text,
    format_duration_ms,
    format_time,
    one_line,
    pretty_json,
    step_title,
    visible_text,
)
from dashboard.views.server_command import show_command
from dashboard.views.step_detail import INLINE_MAX_CHARS, INLINE_MAX_LINES, lines_note
from instrumentation.attributes import RunStatus

__all__ = ["failed_step_banner", "render_steps", "show_code", "step_details"]

RESULT_PREVIEW_CHARS = 1500
RESULT_PREVIEW_LINES = 15


RUN_RECORD = "GET /agent/runs/{id} has all of it."
_IN_THE_EXPLORER = "the step's detail in the explorer (select it in the tree) has all of it."


def show_code(text: str, language: str | None = None, *, rest: str = _IN_THE_EXPLORER) -> None:
    """A stored text in a code box, its start only when it is very long (the browser
    lays out every line); ``rest`` says where the whole text is."""
    shown = fold_text(text, max_chars=INLINE_MAX_CHARS, max_lines=INLINE_MAX_LINES)
    if not shown.is_folded:
        st.code(shown.preview, language=language, wrap_lines=True)
        return
    st.code(shown.preview + "\n…", language=language, wrap_lines=True)
    st.caption(
        f"The first {len(shown.preview):,} of {shown.total_chars:,} characters"
        f"{lines_note(shown)} are shown; {rest}"
    )


def _facts(step: dict[str, Any]) -> str:
    facts = [f"started {format_time(step.get('started_at'))}"]
    if step.get("duration_ms") is not None:
        facts.append(f"took {format_duration_ms(step.get('duration_ms'))}")
    else:
        facts.append("still running")
    if step.get("model"):
        facts.append(f"model {one_line(step['model'], 60)}")
    if step.get("input_tokens") is not None or step.get("output_tokens") is not None:
        facts.append(
            f"tokens {step.get('input_tokens') or 0} in / {step.get('output_tokens') or 0} out"
        )
    if step.get("finish_reasons"):
        facts.append(f"finish {one_line(step['finish_reasons'], 40)}")
    return escape_markdown(" · ".join(facts))


def _result(step: dict[str, Any]) -> None:
    result = step.get("tool_result")
    if result is None or result == "":
        return
    folded = fold_text(result, max_chars=RESULT_PREVIEW_CHARS, max_lines=RESULT_PREVIEW_LINES)
    st.markdown("**Result**")
    if not folded.is_folded:
        st.code(folded.preview, language=None, wrap_lines=True)
        return
    show_all = st.toggle(
        f"Show the full result ({folded.total_chars:,} characters, {folded.total_lines:,} lines)",
        key=f"full-result-{step.get('id')}",
    )
    if show_all:
        show_code(visible_text(result))
    else:
        st.code(folded.preview + "\n…", language=None, wrap_lines=True)


def step_details(step: dict[str, Any]) -> None:
    """Everything recorded about one step, inside its expander."""
    st.caption(_facts(step))
    if step.get("error"):
        st.error("This step failed:", icon=":material/error:")
        show_code(visible_text(step["error"]))
    if step.get("tool_name"):
        st.markdown(f"**Tool** {escape_markdown(one_line(step['tool_name'], 120))}")
    show_command(step)
    args = step.get("tool_args")
    if args not in (None, "", {}, []):
        st.markdown("**Arguments**")
        show_code(pretty_json(args), language="json")
    _result(step)
    if step.get("thinking"):
        st.markdown("**Thinking**")
        show_code(visible_text(step["thinking"]))


def render_steps(steps: Sequence[dict[str, Any]], *, lazy: bool = False) -> None:
    """Each step in order as an expander; failed steps start open.

    ``lazy``: a closed step sends only its title; its details are drawn when it is
    opened (a rerun). A long run's log is most of its page's elements otherwise.
    """
    if not steps:
        st.caption("No steps recorded yet.")
        return
    for step in steps:
        failed = step.get("status") == "error"
        box = st.expander(
            step_title(step),
            expanded=failed,
            key=f"step-{step.get('id')}",
            icon=":material/error:" if failed else None,
            on_change="rerun" if lazy else "ignore",
        )
        if lazy and not box.open:
            continue
        with box:
            step_details(step)


def failed_step_banner(run: dict[str, Any], steps: Sequence[dict[str, Any]]) -> None:
    """For a failed run: which step failed and why, above everything else."""
    if run.get("status") != RunStatus.FAILED:
        return  # a step may fail and the agent recover; only a failed run gets the banner
    failed = [s for s in steps if s.get("status") == "error" or s.get("error")]
    if failed:
        step = failed[-1]
        name = step.get("tool_name") or step.get("action_type") or "step"
        st.error(
            escape_markdown(f"Failed at step {step.get('step_number')}: {one_line(name, 80)}"),
            icon=":material/error:",
        )
        reason = step.get("error") or run.get("error") or "no error message was recorded"
        show_code(visible_text(reason))
    elif run.get("error"):
        st.error("The run failed:", icon=":material/error:")
        show_code(visible_text(run["error"]), rest=RUN_RECORD)
