"""Charts built once per input, shared by every session of the dashboard process.

Building an Altair chart is most of the stats page's own CPU: ``.encode()`` wraps
each channel in Altair's schema classes (~10 ms a chart here, ~55 ms for the page's
six), every time the page runs. The builders in ``dashboard/charts.py`` are pure,
so the same input gives the same chart: it is kept (``st.cache_resource``, keyed by
the builder and the input's content) and reused by the next run of the page, in
this session or another, until the input changes. Charts are never changed after
they are built (Streamlit only reads them), so sharing one is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import altair as alt
import streamlit as st

from dashboard import charts

__all__ = ["chart", "CACHED_CHARTS"]

CACHED_CHARTS = 64  # a few views x filters; each chart holds only its small frame
CHART_TTL_S = 600

_BUILDERS: dict[str, Callable[..., alt.Chart]] = {
    "runs_over_time": charts.runs_over_time_chart,
    "error_rate": charts.error_rate_chart,
    "duration_histogram": charts.duration_histogram,
    "counts_bar": charts.counts_bar_chart,
    "top_tools": charts.top_tools_chart,
    "cost_over_time": charts.cost_over_time_chart,
    "cost_by": charts.cost_by_chart,
}


@st.cache_resource(max_entries=CACHED_CHARTS, ttl=CHART_TTL_S, show_spinner=False)
def _built(name: str, args: tuple[Any, ...], options: tuple[tuple[str, Any], ...]) -> alt.Chart:
    return _BUILDERS[name](*args, **dict(options))


def chart(name: str, *args: Any, **options: Any) -> alt.Chart:
    """``charts.<name>_chart(*args, **options)``, reused while its input is the same."""
    return _built(name, args, tuple(sorted(options.items())))
