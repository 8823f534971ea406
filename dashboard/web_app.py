"""The dashboard as an ASGI app: Streamlit's app (``app.py``) with four middlewares.

``agent-audit dashboard`` runs ``streamlit run`` on this file; Streamlit finds the
``st.App`` below and serves it with its own server and settings. See
``dashboard/tcp_nodelay.py`` for why its connections get ``TCP_NODELAY``,
``dashboard/static_assets.py`` for why Streamlit's frontend files are served from
memory, gzipped, ``dashboard/preview_middleware.py`` for the preview of the page's
content that a new tab shows before Streamlit's app has drawn it, and
``dashboard/base_url_hint.py`` for why the page document gets a hint.
"""

from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware

from dashboard.base_url_hint import BaseUrlHint
from dashboard.preview_middleware import PagePreview
from dashboard.routes import PAGES
from dashboard.static_assets import StaticAssets
from dashboard.tcp_nodelay import NoDelay

app = st.App(
    "app.py",
    middleware=[
        Middleware(NoDelay),
        Middleware(StaticAssets),
        Middleware(PagePreview),
        Middleware(BaseUrlHint, page_paths=[page.url_path for page in PAGES]),
    ],
)
