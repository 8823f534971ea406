"""Stats: charts over the stored runs."""

from __future__ import annotations

import streamlit as st

from dashboard.views import connection, stats

st.title("Stats")
api = connection.client()
if connection.collector_ready(api):
    with connection.guarded():
        filters = stats.stats_filters(api)
        stats.stats_board(api, filters)
