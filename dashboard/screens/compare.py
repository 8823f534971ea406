"""Compare: two runs side by side (?a=<id>&b=<id>), steps aligned, differences highlighted."""

from __future__ import annotations

import streamlit as st

from dashboard.views import api_reads, compare_runs, connection

st.title("Compare runs")
api = connection.client()
for side in ("a", "b"):
    if (st.query_params.get(side) or "").strip():
        api_reads.prefetch_run(api, st.query_params[side].strip())  # overlaps the health check
if connection.collector_ready(api):
    with connection.guarded():
        compare_runs.compare_page(api)
