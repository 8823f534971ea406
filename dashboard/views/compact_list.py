"""A phone-width list of runs, and the CSS switch between it and the wide table.

A table of a dozen columns cannot fit 390 px without scrolling sideways. Both
forms are sent; a CSS media query shows the table on wide screens and a list of
links (status, task, when, how long) on narrow ones, with no round trip. The list
is one small component (dashboard/run_links.py), so it costs the wide screen little.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard.formatting import (
    format_cost,
    format_duration_ms,
    format_relative,
    format_time,
    one_line,
    run_duration_ms,
    status_badge,
)
from dashboard.run_links import RunLink, run_links

__all__ = ["NARROW_MAX_PX", "compact_runs", "responsive_switch"]

NARROW_MAX_PX = 640  # Streamlit stacks columns below this width too


def responsive_switch(name: str) -> tuple[DeltaGenerator, DeltaGenerator]:
    """Two containers: the first shown on wide screens, the second on narrow ones."""
    narrow, wide = f"max-width: {NARROW_MAX_PX}px", f"min-width: {NARROW_MAX_PX + 1}px"
    st.html(
        "<style>"
        f"@media ({narrow}) {{ .st-key-{name}-wide {{ display: none; }} }}"
        f"@media ({wide}) {{ .st-key-{name}-narrow {{ display: none; }} }}"
        "</style>"
    )
    return st.container(key=f"{name}-wide"), st.container(key=f"{name}-narrow")


def compact_runs(
    runs: Sequence[dict[str, Any]],
    *,
    key: str,
    on_open: Callable[[str], None],
    timezone: str | None = None,
) -> None:
    """One link per run (status and task) with a line of facts (when, how long, agent)."""
    now = datetime.now(UTC)
    links: list[RunLink] = []
    for run in runs:
        facts = [
            format_relative(run.get("started_at"), now),
            format_duration_ms(run_duration_ms(run, now)),
            one_line(run.get("agent_name") or "", 30),
            f"{int(run.get('step_count') or run.get('total_steps') or 0)} steps",
            format_cost(run.get("cost_usd")),
            one_line(run.get("error") or "", 60),
        ]
        links.append(
            RunLink(
                id=str(run.get("id")),
                label=f"{status_badge(run.get('status'))} · {one_line(run.get('task') or '', 80)}",
                hover=(
                    f"{one_line(run.get('task') or '', 600)} · "
                    f"started {format_time(run.get('started_at'))}"
                ),
                facts=" · ".join(f for f in facts if f),
            )
        )
    run_links(links, key=key, on_open=on_open)
