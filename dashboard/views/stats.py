"""The stats page: runs over time, durations, error rate, tools, sources, models, tokens."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard.client import AuditClient, Record, RunFilters
from dashboard.stats_figures import TOOL_COLUMNS, headline_figures, tool_rows
from dashboard.views import api_reads
from dashboard.views.chart_cache import chart
from dashboard.views.onboarding import empty_state
from dashboard.views.runs import dates_to_range

__all__ = ["stats_filters", "stats_board", "bucket_for", "prefetch_first_view"]


def bucket_for(since: datetime | None, until: datetime | None) -> str:
    """Hourly buckets for up to three days, daily beyond (or when open-ended)."""
    if since is not None and until is not None and (until - since).days <= 3:
        return "hour"
    return "day"


def prefetch_first_view(api: AuditClient) -> None:
    """Start reading what the page shows before its filters are touched (no filter)."""
    api_reads.prefetch_filter_choices(api, agents=False)
    if not any(k in st.session_state for k in ("stats_started", "stats_source", "stats_model")):
        api_reads.prefetch_stats(api, RunFilters(), bucket=bucket_for(None, None))
        api_reads.prefetch_duration_sample(api, RunFilters())


def stats_filters(api: AuditClient) -> RunFilters:
    """Date range, source and model for the stats page."""
    sources, models = api_reads.filter_options(api)
    date_col, source_col, model_col = st.columns([1.6, 1.2, 1.4])
    picked = date_col.date_input(
        "Started (UTC)", value=[], key="stats_started", format="YYYY-MM-DD"
    )
    source = source_col.selectbox(
        "Source", sources, index=None, key="stats_source", placeholder="any"
    )
    model = model_col.selectbox("Model", models, index=None, key="stats_model", placeholder="any")
    since, until = dates_to_range(picked)
    return RunFilters(source=source or None, model=model or None, since=since, until=until)


def _headline(stats: Record) -> None:
    figures = headline_figures(stats)
    for columns, shown in ((st.columns(4), figures[:4]), (st.columns(4), figures[4:])):
        for column, (label, value) in zip(columns, shown, strict=True):
            column.metric(label, value)


def _tools_table(tools: list[Record]) -> pd.DataFrame:
    return pd.DataFrame(tool_rows(tools), columns=list(TOOL_COLUMNS))


def stats_board(api: AuditClient, filters: RunFilters) -> None:
    """All the charts for the runs matching ``filters``."""
    bucket = bucket_for(filters.since, filters.until)
    api_reads.prefetch_duration_sample(api, filters)  # read while the first charts draw
    stats = api_reads.stats(api, filters, bucket=bucket)
    if not stats.get("total_runs"):
        if filters.is_empty:
            empty_state(api.base_url)
        else:
            st.info("No runs match these filters.", icon=":material/filter_alt_off:")
        return
    _headline(stats)
    over_time = list(stats.get("runs_over_time") or [])
    left, right = st.columns(2)
    with left:
        st.markdown(f"#### Runs per {bucket}, by status")
        st.altair_chart(chart("runs_over_time", over_time, bucket), width="stretch")
    with right:
        st.markdown(f"#### Error rate per {bucket}")
        st.altair_chart(chart("error_rate", over_time, bucket), width="stretch")
    left, right = st.columns(2)
    with left:
        st.markdown("#### Run durations")
        durations, sampled = api_reads.duration_sample(api, filters)
        st.altair_chart(chart("duration_histogram", durations), width="stretch")
        if sampled:
            st.caption(f"Histogram of the latest {len(durations):,} finished runs.")
    with right:
        st.markdown("#### Top tools")
        tools = list(stats.get("top_tools") or [])
        if tools:
            st.altair_chart(chart("top_tools", tools), width="stretch")
            st.dataframe(_tools_table(tools), hide_index=True, width="stretch")
        else:
            st.caption("No tool calls recorded.")
    left, right = st.columns(2)
    with left:
        st.markdown("#### Runs by source")
        st.altair_chart(
            chart("counts_bar", stats.get("by_source") or {}, label="source"), width="stretch"
        )
    with right:
        st.markdown("#### Runs by model")
        st.altair_chart(
            chart("counts_bar", stats.get("by_model") or {}, label="model"), width="stretch"
        )
