"""Live: agents running now and runs that just finished, refreshing by themselves."""

from __future__ import annotations

import streamlit as st

from dashboard.views import connection, live

st.title("Live")
api = connection.client()
if connection.collector_ready(api):
    live.live_board(api)
