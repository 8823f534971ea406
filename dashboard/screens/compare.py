"""Compare: two runs side by side (?a=<id>&b=<id>), steps aligned, differences highlighted."""

from __future__ import annotations

import streamlit as st

from dashboard.views import compare_runs, connection

st.title("Compare runs")
api = connection.client()
if connection.collector_ready(api):
    with connection.guarded():
        compare_runs.compare_page(api)
