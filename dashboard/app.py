"""agent-audit dashboard: navigation only; each page lives in screens/.

Not ``pages/``: with a folder of that name beside the main script, Streamlit
serves a deep link such as ``/run?run=...`` as a page of its own, without this
navigation and page config.
"""

from __future__ import annotations

import streamlit as st

from dashboard import routes, warmup

st.set_page_config(page_title="agent-audit", page_icon="🔎", layout="wide")
warmup.import_in_background()
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
