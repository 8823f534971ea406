"""Put a page's preview (dashboard/page_preview.py) into its page document.

For every page (the runs list with the filters its URL holds, a run, a
comparison, live, stats, SQL), this ASGI middleware starts the page's API reads
as soon as the document is asked for (dashboard/preview_reads.py), through the
dashboard's shared read cache (dashboard/reads.py), so the Streamlit session
that starts a moment later reuses the answers instead of asking again.

The preview never holds Streamlit back. The document is sent in two parts: first
Streamlit's whole shell, at once, with its module script moved after the
``#root`` element and marked ``async`` (:func:`shell_and_rest`); a deferred
script would wait for the end of the document, an async one runs as soon as it
is loaded, so Streamlit's app starts while the document is still open. Then,
when the answer is in, the preview and the document's end. The read has
AGENT_AUDIT_DASHBOARD_PREVIEW_WAIT_S from the request's arrival (0 turns the
preview off); without an answer by then, or with an error, the document ends
without one. A Streamlit whose document this does not recognise gets no preview.

The document then holds stored data, so it is never cached (``no-store``) and
carries no validator: a conditional request gets the whole page, not a 304 for
an older copy.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from urllib.parse import parse_qs

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
from dashboard.preview_reads import PREVIEW_PAGES, page_of, preview_for
from dashboard.settings import DashboardSettings

__all__ = ["PagePreview", "shell_and_rest"]

logger = logging.getLogger(__name__)

_DROPPED_HEADERS = (b"content-length", b"etag", b"last-modified", b"cache-control")
# Streamlit's entry point: a module script with a src and no body.
_MODULE_SCRIPT = re.compile(rb"<script\b(?=[^>]*\btype=\"module\")[^>]*>\s*</script>\s*")
_ROOT = b'<div id="root"></div>'
_BODY_END = b"</body>"


def shell_and_rest(document: bytes) -> tuple[bytes, bytes] | None:
    """Streamlit's page document as a shell that starts the app by itself, and its end.

    The shell is everything before ``</body>``, its module scripts moved to just
    after ``#root`` (which must exist when the app starts) and made ``async``
    (run once loaded, not once the document ends). None: not a document this knows.
    """
    end = document.rfind(_BODY_END)
    scripts = _MODULE_SCRIPT.findall(document[: max(end, 0)])
    if end < 0 or not scripts:
        return None
    shell = _MODULE_SCRIPT.sub(b"", document[:end])
    root = shell.find(_ROOT)
    if root < 0:
        return None
    moved = b"".join(
        tag.strip() if b" async" in tag else tag.strip().replace(b"<script", b"<script async", 1)
        for tag in scripts
    )
    at = root + len(_ROOT)
    return shell[:at] + moved + shell[at:], document[end:]


def _wants_preview(path: str) -> bool:
    return page_of(path) in PREVIEW_PAGES


class PagePreview:
    """Stream the page document: Streamlit's shell at once, the preview when read."""

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
        deadline = time.monotonic() + self.wait_s
        loop = asyncio.get_running_loop()
        reading = loop.run_in_executor(None, preview_for, path, query)
        # No validators: the answer must be a whole page with fresh data (see module doc).
        scope = without_request_headers(
            scope, (b"accept-encoding", b"if-none-match", b"if-modified-since")
        )
        send_edited = functools.partial(self._send_in_two_parts, reading=reading, deadline=deadline)
        try:
            await edit_document(self.app, scope, receive, send, send_edited)
        finally:
            if not reading.done():
                reading.add_done_callback(_log_failure)

    async def _send_in_two_parts(
        self,
        started: Message,
        document: bytes,
        send: Send,
        *,
        reading: asyncio.Future[str | None],
        deadline: float,
    ) -> None:
        parts = shell_and_rest(document)
        if parts is None:
            logger.debug("page preview: not a page document this knows; sent unchanged")
            await send(started)
            await send({"type": "http.response.body", "body": document, "more_body": False})
            return
        shell, rest = parts
        headers = [(n, v) for n, v in started.get("headers", []) if n not in _DROPPED_HEADERS]
        headers.append((b"cache-control", b"no-store"))
        await send({**started, "headers": headers})
        await send({"type": "http.response.body", "body": shell, "more_body": True})
        preview = b""
        try:
            left_s = max(0.0, deadline - time.monotonic())
            html = await asyncio.wait_for(asyncio.shield(reading), left_s)
            preview = html.encode() if html else b""
        except TimeoutError:
            logger.debug("page preview: no answer within %.1f s", self.wait_s)
        except Exception:  # a request boundary: the page goes out without a preview
            logger.warning("page preview failed", exc_info=True)
        await send({"type": "http.response.body", "body": preview + rest, "more_body": False})


def _log_failure(future: asyncio.Future[str | None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.debug("page preview read failed late: %s", future.exception())
