"""The costs view of the stats page: total, cost over time, by model, by agent.

Costs come from the collector (tokens times the model's price; see the README's
Cost section). Runs whose model has no known price are counted, not guessed.
"""

from __future__ import annotations

import streamlit as st

from dashboard.client import AuditClient, RunFilters
from dashboard.stats_figures import cost_figures
from dashboard.views import api_reads
from dashboard.views.chart_cache import chart

__all__ = ["cost_board"]


def cost_board(api: AuditClient, filters: RunFilters, bucket: str) -> None:
    """Cost figures and charts for the runs matching ``filters``."""
    costs = api_reads.costs(api, filters, bucket=bucket)
    total = costs.get("total_usd")
    unpriced = int(costs.get("unpriced_runs") or 0)
    for column, (label, value) in zip(st.columns(3), cost_figures(costs), strict=True):
        column.metric(label, value)
    if unpriced:
        st.caption(
            "Their model is not in the price table: add it to the prices file "
            "(AGENT_AUDIT_PRICES) to count them."
        )
    if not total:
        st.info(
            "No cost yet: every priced run used a local model (priced at 0) or no tokens.",
            icon=":material/savings:",
        )
        return
    st.markdown(f"#### Cost per {bucket}, by model")
    st.altair_chart(chart("cost_over_time", costs.get("over_time") or [], bucket), width="stretch")
    left, right = st.columns(2)
    with left:
        st.markdown("#### Cost by model")
        by_model = chart("cost_by", costs.get("by_model") or {}, label="model")
        st.altair_chart(by_model, width="stretch")
    with right:
        st.markdown("#### Cost by agent")
        by_agent = chart("cost_by", costs.get("by_agent") or {}, label="agent")
        st.altair_chart(by_agent, width="stretch")
