"""The command a step ran on a server: where, allowed or refused and why, exit code.

Read from the step's command columns (the collector fills them from the span's
``ssh.*`` attributes). The command is shown with ``st.code`` (never as Markdown),
shell-quoted as the collector stored it, so what is shown is what ran.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.formatting import escape_markdown, one_line, visible_text

__all__ = ["show_command"]


def show_command(step: dict[str, Any]) -> None:
    """The step's server command, when it ran (or was refused) one; nothing otherwise."""
    command = step.get("command")
    decision = str(step.get("command_decision") or "")
    if not command and not decision:
        return
    where = step.get("command_host")
    heading = "**Command on a server**"
    if where:
        heading += f" · {escape_markdown(one_line(where, 120))}"
    st.markdown(heading)
    st.code(
        visible_text(command or "(no command was recorded)"),
        language="bash",
        wrap_lines=True,
    )
    if decision == "refused":
        st.badge("refused", color="red", icon=":material/block:")
    elif decision:
        st.badge(escape_markdown(one_line(decision, 40)), color="green")
    facts = []
    if step.get("command_reason"):
        facts.append(f"why: {one_line(step['command_reason'], 300)}")
    if step.get("command_exit_code") is not None:
        facts.append(f"exit code {step['command_exit_code']}")
    elif decision == "refused":
        facts.append("never ran")
    if facts:
        st.caption(escape_markdown(" · ".join(facts)))
