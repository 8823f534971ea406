"""The empty state: how a first-time user sends a first run."""

from __future__ import annotations

import streamlit as st

from dashboard.views.connection import shown_url

__all__ = ["empty_state", "instrumentation_snippet"]


def instrumentation_snippet(api_url: str) -> str:
    """The five lines that trace an agent run into the collector at ``api_url``."""
    return (
        "from instrumentation import agent_run, configure\n"
        f'configure(endpoint="{api_url}", protocol="http")\n'
        'with agent_run("Check disk space", source="cli") as run:\n'
        '    with run.step("tool_call", tool_name="df", tool_args={"path": "/"}) as step:\n'
        '        step.set_result("/dev/sda1 42% used")\n'
    )


def empty_state(api_url: str) -> None:
    """No runs yet: show the demo command and the instrumentation snippet."""
    st.info("No agent runs recorded yet. Send the first one:", icon=":material/rocket_launch:")
    st.markdown("**Try it with sample runs** (a few completed, failed and running agents):")
    st.code("agent-audit demo", language="bash")
    st.markdown("**Or trace your own agent** with five lines:")
    st.code(instrumentation_snippet(shown_url(api_url)), language="python")
    st.caption("Runs appear here within two seconds of starting; this page refreshes by itself.")
