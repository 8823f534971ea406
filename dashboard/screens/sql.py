"""SQL: read-only queries over agent_runs, agent_steps and spans."""

from __future__ import annotations

import streamlit as st

from dashboard.views import connection, sql_console

st.title("SQL")
api = connection.client()
if connection.collector_ready(api):
    sql_console.sql_console(api)
