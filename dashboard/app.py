"""agent-audit dashboard: navigation only; each page lives in pages/."""

from __future__ import annotations

import streamlit as st

from dashboard import routes

st.set_page_config(page_title="agent-audit", page_icon="🔎", layout="wide")
pages = [
    st.Page(
        spec.path,
        title=spec.title,
        url_path=spec.url_path,
        icon=spec.icon,
        default=spec is routes.RUNS,
    )
    for spec in routes.PAGES
]
st.navigation(pages).run()
