"""Put a page's preview (dashboard/page_preview.py) into its page document.

For the runs list (``/``, ``/runs``, with the filters its URL holds) and a run
(``/run?run=<id>``), this ASGI middleware starts the page's API read as soon as
the document is asked for, through the dashboard's shared read cache
(dashboard/reads.py), so the Streamlit session that starts a moment later reuses
the answer instead of asking again. The document is sent in two parts: its head
at once (the browser starts fetching Streamlit's files), then, when the answer is
in, the preview and the rest. It waits at most AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S
(0.6 s: longer, and Streamlit's own page would often come first; 0 turns the preview
off); without an answer in time, or with an error, the document goes out as
Streamlit wrote it.

The document then holds stored data, so it is never cached (``no-store``) and
carries no validator: a conditional request gets the whole page, not a 304 for
an older copy.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from urllib.parse import parse_qs

from dashboard.client import ClientError
from dashboard.page_document import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    edit_document,
    is_document_request,
    without_request_headers,
)
from dashboard.page_preview import run_preview, runs_preview
from dashboard.settings import DashboardSettings
from dashboard.views import api_reads, runs
from dashboard.views.connection import client

__all__ = ["PagePreview", "preview_for"]

logger = logging.getLogger(__name__)

_RUNS_PAGES = ("", "runs")
_RUN_PAGE = "run"
_DROPPED_HEADERS = (b"content-length", b"etag", b"last-modified", b"cache-control")


def preview_for(path: str, query: dict[str, list[str]]) -> str | None:
    """The preview's HTML for a page, read through the shared cache; None: no preview.

    Runs in a worker thread (it waits for the API).
    """
    page = path.rstrip("/").rsplit("/", 1)[-1] if path.strip("/") else ""
    try:
        if page in _RUNS_PAGES and (page or path.endswith("/")):
            filters = runs.filters_from_query(query)
            if filters is None:
                return None
            found = api_reads.runs_page(client(), filters, limit=runs.PAGE_SIZE)
            return runs_preview(found.runs, found.total)
        run_id = (query.get("run") or [""])[-1]
        if page == _RUN_PAGE and run_id:
            record = api_reads.run(client(), run_id)
            steps = sorted(
                record.pop("steps", None) or [],
                key=lambda s: (int(s.get("step_number") or 0), str(s.get("started_at") or "")),
            )
            return run_preview(record, steps)
    except ClientError as exc:  # the page itself will say what is wrong
        logger.debug("page preview: %s", exc)
    return None


def _wants_preview(path: str) -> bool:
    last = path.rstrip("/").rsplit("/", 1)[-1] if path.strip("/") else ""
    return last in (*_RUNS_PAGES, _RUN_PAGE)


class PagePreview:
    """Stream the page document with the page's preview after ``<body>``."""

    def __init__(self, app: ASGIApp, wait_s: float | None = None) -> None:
        self.app = app
        # Read once, when the server starts (AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S).
        self.wait_s = DashboardSettings.from_env().preview_wait_s if wait_s is None else wait_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path") or "/")
        if not self.wait_s or not is_document_request(scope) or not _wants_preview(path):
            await self.app(scope, receive, send)
            return
        query = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1"))
        loop = asyncio.get_running_loop()
        reading = loop.run_in_executor(None, preview_for, path, query)
        # No validators: the answer must be a whole page with fresh data (see module doc).
        scope = without_request_headers(
            scope, (b"accept-encoding", b"if-none-match", b"if-modified-since")
        )
        send_edited = functools.partial(self._send_in_two_parts, reading=reading)
        try:
            await edit_document(self.app, scope, receive, send, send_edited)
        finally:
            if not reading.done():
                reading.add_done_callback(_log_failure)

    async def _send_in_two_parts(
        self, started: Message, document: bytes, send: Send, *, reading: asyncio.Future[str | None]
    ) -> None:
        head, marker, rest = document.partition(b"<body>")
        if not marker:
            await send(started)
            await send({"type": "http.response.body", "body": document, "more_body": False})
            return
        headers = [(n, v) for n, v in started.get("headers", []) if n not in _DROPPED_HEADERS]
        headers.append((b"cache-control", b"no-store"))
        await send({**started, "headers": headers})
        await send({"type": "http.response.body", "body": head + marker, "more_body": True})
        preview = b""
        try:
            html = await asyncio.wait_for(asyncio.shield(reading), self.wait_s)
            preview = html.encode() if html else b""
        except TimeoutError:
            logger.debug("page preview: no answer within %.1f s", self.wait_s)
        except Exception:  # a request boundary: the page goes out without a preview
            logger.warning("page preview failed", exc_info=True)
        await send({"type": "http.response.body", "body": preview + rest, "more_body": False})


def _log_failure(future: asyncio.Future[str | None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.debug("page preview read failed late: %s", future.exception())
