"""Annotations on the run page: mark a run good or bad, add a label or a note; see who did.

Each annotation is stored by the collector with its author and time; a later
good/bad replaces the earlier verdict in filters, but every annotation stays
listed (the trail is append-only).
"""

from __future__ import annotations

import streamlit as st

from dashboard.client import ApiError, AuditClient
from dashboard.formatting import escape_markdown, format_relative, format_time, one_line
from dashboard.views import api_reads

__all__ = ["annotation_panel"]

_AUTHOR = "annotator"  # session key: the name a person typed once
# Material icons (a font Streamlit ships), not emoji: emoji need a system font.
_ICONS = {
    "good": ":material/thumb_up:",
    "bad": ":material/thumb_down:",
    "label": ":material/label:",
    "note": ":material/sticky_note_2:",
}


def _author() -> str:
    return str(st.session_state.get(_AUTHOR) or "").strip()


def annotation_panel(api: AuditClient, run_id: str) -> None:
    """The run's annotations and the controls to add one."""
    st.markdown("#### Annotations")
    existing = api_reads.run_annotations(api, run_id)
    verdicts = [a for a in existing if a.get("kind") in ("good", "bad")]
    if verdicts:
        latest = verdicts[-1]
        who = one_line(latest.get("author"), 40)
        # A badge's label is Markdown that ignores escapes: the author goes in plain Markdown.
        st.badge(f"marked {latest['kind']}", color="green" if latest["kind"] == "good" else "red")
        st.markdown(
            f"{_ICONS[str(latest['kind'])]} " + escape_markdown(f"{latest['kind']}, by {who}")
        )
    for note in existing:
        kind = str(note.get("kind"))
        text = f" · {one_line(note.get('value'), 300)}" if note.get("value") else ""
        st.caption(
            f"{_ICONS.get(kind, '')} "
            + escape_markdown(
                f"{kind}{text} — {one_line(note.get('author'), 40)}, "
                f"{format_relative(note.get('created_at'))} ({format_time(note.get('created_at'))})"
            )
        )
    who_col, good_col, bad_col = st.columns([2, 1, 1], vertical_alignment="bottom")
    who_col.text_input("Your name", key=_AUTHOR, placeholder="who is annotating")
    verdict = None
    if good_col.button(
        "Good", icon=":material/thumb_up:", key=f"mark-good-{run_id}", width="stretch"
    ):
        verdict = "good"
    if bad_col.button(
        "Bad", icon=":material/thumb_down:", key=f"mark-bad-{run_id}", width="stretch"
    ):
        verdict = "bad"
    with st.form(f"annotate-{run_id}", clear_on_submit=True, border=False):
        kind_col, text_col, save_col = st.columns([1, 3, 1], vertical_alignment="bottom")
        kind = kind_col.selectbox("Add", ["label", "note"], key=f"annotation-kind-{run_id}")
        value = text_col.text_input("Label or note", key=f"annotation-value-{run_id}")
        saved = save_col.form_submit_button("Save", width="stretch")
    request = (verdict, None) if verdict else ((kind, value) if saved else None)
    if request is None:
        return
    if not _author():
        st.warning("Type your name first: each annotation records who made it.")
        return
    try:
        api.annotate(run_id, kind=str(request[0]), value=request[1], author=_author())
        api_reads.forget_all()  # the list's "Marked" filter and this panel show it now
    except ApiError as exc:
        st.error(escape_markdown(f"Not saved: {exc.detail}"), icon=":material/error:")
        return
    st.rerun()
