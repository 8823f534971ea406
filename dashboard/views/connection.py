"""The client a page uses, and what a page shows when the collector cannot answer.

Every page starts with ``collector_ready(client)``: when the collector is down it
shows a banner and a small fragment that polls ``/healthz`` and reruns the page as
soon as the collector answers again, so the page recovers by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import SplitResult, urlsplit, urlunsplit

import streamlit as st

from dashboard.client import (
    ApiError,
    AuditClient,
    CollectorUnreachable,
    DashboardError,
    RequestNotSent,
    Unauthorized,
)
from dashboard.formatting import code_span, escape_markdown
from dashboard.settings import DashboardSettings

__all__ = [
    "client",
    "collector_ready",
    "guarded",
    "settings",
    "show_problem",
    "show_unsendable",
    "shown_url",
]

logger = logging.getLogger(__name__)


def settings() -> DashboardSettings:
    """The dashboard's settings, read from the environment."""
    return DashboardSettings.from_env()


@st.cache_resource(show_spinner=False)
def _shared_client(api_url: str, token: str | None, timeout_s: float) -> AuditClient:
    # One connection pool per (URL, token) for all browser sessions of this process.
    return AuditClient(
        api_url, token=token, timeout_s=timeout_s, user_agent="agent-audit-dashboard"
    )


def client() -> AuditClient:
    """The REST client for the configured collector."""
    current = settings()
    return _shared_client(current.api_url, current.token, current.timeout_s)


def _host(parts: SplitResult) -> str:
    # Without the user name and password a URL may carry (http://user:secret@host):
    # the page shows where the collector is, never how to log in to it.
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return host if port is None else f"{host}:{port}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{_host(parts)}"


def shown_url(url: str) -> str:
    """``url`` as a page may show it: without a user name and password in it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=_host(parts)))


def show_problem(exc: DashboardError) -> None:
    """A clear banner saying what is wrong with the collector and what to do."""
    if isinstance(exc, Unauthorized):
        st.error(
            "The collector refused the dashboard's token. Set **AGENT_AUDIT_TOKEN** to the "
            "collector's token and restart the dashboard.",
            icon=":material/lock:",
        )
    elif isinstance(exc, CollectorUnreachable):
        st.error(
            f"**Collector unreachable** at {code_span(_origin(exc.url))}. Start it with "
            "`agent-audit collector` (or `agent-audit up`). This page reconnects by itself.",
            icon=":material/cloud_off:",
        )
    elif isinstance(exc, RequestNotSent):
        show_unsendable(exc)
    elif isinstance(exc, ApiError):
        st.error(
            f"The collector answered {exc.status_code}. Details below.",
            icon=":material/error:",
        )
        st.code(exc.detail, language=None, wrap_lines=True)
    else:
        st.error(escape_markdown(str(exc)), icon=":material/error:")
    logger.debug("collector problem: %s", exc)


def _wait_for_collector(api: AuditClient, refresh_s: float) -> None:
    @st.fragment(run_every=refresh_s)
    def poll_health() -> None:
        try:
            api.health()
        except DashboardError:
            st.caption(
                f"Last try {datetime.now(UTC):%H:%M:%S} UTC; retrying every {refresh_s:g} s."
            )
            return
        st.rerun()  # the whole page, now that the collector answers

    poll_health()


def collector_ready(api: AuditClient) -> bool:
    """True when ``/healthz`` answers; otherwise a banner, a retry loop, and False."""
    try:
        api.health()
    except DashboardError as exc:
        show_problem(exc)
        if not isinstance(exc, Unauthorized):
            _wait_for_collector(api, settings().refresh_s)
        return False
    return True


def show_unsendable(exc: RequestNotSent) -> None:
    """The banner for a request that could not be sent: a value too long for a URL."""
    st.error(
        "This page needs a value that is too long to send to the collector in a URL "
        "(a run id, an agent name or a filter of tens of thousands of characters).",
        icon=":material/error:",
    )
    st.code(str(exc), language=None, wrap_lines=True)


@contextmanager
def guarded() -> Iterator[None]:
    """Show a collector failure inside the page instead of a traceback."""
    try:
        yield
    except DashboardError as exc:
        show_problem(exc)
