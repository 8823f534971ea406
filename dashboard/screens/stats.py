"""Stats: charts over the stored runs; ``?view=costs`` shows what they cost."""

from __future__ import annotations

import streamlit as st

from dashboard.views import connection, cost_stats, stats

st.title("Stats")
api = connection.client()
stats.prefetch_first_view(api)
if connection.collector_ready(api):
    with connection.guarded():
        filters = stats.stats_filters(api)
        view = st.segmented_control(
            "Show", ["runs", "costs"], default="runs", key="view", bind="query-params"
        )
        if view == "costs":
            cost_stats.cost_board(api, filters, stats.bucket_for(filters.since, filters.until))
        else:
            stats.stats_board(api, filters)
