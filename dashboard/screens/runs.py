"""Runs: every agent run, newest first, filtered; a row opens the run."""

from __future__ import annotations

import streamlit as st

from dashboard.views import connection, runs

st.title("Agent runs")
api = connection.client()
runs.prefetch_from_url(api)
if connection.collector_ready(api):
    with connection.guarded():
        live = st.toggle(
            "Live", value=True, key="runs_live", help="Refresh the table every few seconds"
        )
        filters = runs.filter_bar(api)
        runs.runs_table(api, filters, live=live)
