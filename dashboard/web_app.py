"""The dashboard as an ASGI app: Streamlit's app (``app.py``) with the base-URL hint.

``agent-audit dashboard`` runs ``streamlit run`` on this file; Streamlit finds the
``st.App`` below and serves it with its own server and settings. See
``dashboard/base_url_hint.py`` for why the page document gets a hint.
"""

from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware

from dashboard.base_url_hint import BaseUrlHint
from dashboard.routes import PAGES

app = st.App(
    "app.py",
    middleware=[Middleware(BaseUrlHint, page_paths=[page.url_path for page in PAGES])],
)
