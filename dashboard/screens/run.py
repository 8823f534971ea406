"""Run: one run in full, deep-linkable as ?run=<id>; live while it runs."""

from __future__ import annotations

import streamlit as st

from dashboard.views import api_reads, connection, run_detail

api = connection.client()
if st.query_params.get("run"):
    api_reads.prefetch_run(api, st.query_params["run"])  # overlaps the health check
if connection.collector_ready(api):
    with connection.guarded():
        run_detail.run_page(api, st.query_params.get("run"))
