"""Tell Streamlit's frontend where the server is, so a deep link connects at once.

Opened at ``/run?run=...``, Streamlit's JavaScript does not know whether ``/run``
is a page or the prefix the app is served under, so it first asks
``/run/_stcore/health`` and ``/run/_stcore/host-config``, gets 404, waits 100 ms
and only then tries ``/_stcore/...``: 120-200 ms lost on every page load but the
runs list. The frontend reads ``window.__streamlit.BACKEND_BASE_URL`` (the setting
pages embedding Streamlit use) and then asks that one address. This ASGI
middleware adds a small inline script to the page document that sets it when the
path ends in one of the dashboard's page names (``/run`` -> ``/``,
``/audit/run`` -> ``/audit``) or is the root; any other path keeps Streamlit's own
probing, so a proxy prefix the dashboard does not know about still works.

With the base URL it also gives the frontend the two host settings it would
otherwise read from ``/_stcore/host-config`` before it opens its websocket
(``HOST_CONFIG``: the origins allowed to send it messages from a parent frame,
and no external auth token). Streamlit's frontend then opens the websocket at
once and asks health and host-config in the background, instead of one round
trip after the other. The allowed origin is the page's own, narrower than
Streamlit's default list of Community Cloud domains (the dashboard is never
embedded by them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from dashboard import page_document
from dashboard.page_document import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BaseUrlHint", "hint_script"]


def hint_script(page_paths: Iterable[str]) -> str:
    """The inline script: the app's root from ``location.pathname``, or nothing."""
    pages = json.dumps(sorted(set(page_paths)))
    return (
        "<script>(function(){"
        'var parts=location.pathname.split("/").filter(Boolean);'
        f"var pages={pages};"
        "if(parts.length&&pages.indexOf(parts[parts.length-1])<0)return;"
        "parts=parts.slice(0,-1);"
        "window.__streamlit=Object.assign({},window.__streamlit,"
        '{BACKEND_BASE_URL:location.origin+"/"+parts.join("/"),'
        "HOST_CONFIG:{allowedOrigins:[location.origin],useExternalAuthToken:false}});"
        "})();</script>"
    )


class BaseUrlHint:
    """Insert :func:`hint_script` after ``<head>`` of every HTML page document."""

    def __init__(self, app: ASGIApp, page_paths: Iterable[str]) -> None:
        self.app = app
        self.script = hint_script(page_paths).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not page_document.is_document_request(scope):
            await self.app(scope, receive, send)
            return
        # The document is ~8 kB: ask for it uncompressed, so it can be edited.
        scope = page_document.without_request_headers(scope, (b"accept-encoding",))
        await page_document.edit_document(self.app, scope, receive, send, self._send_edited)

    async def _send_edited(self, started: Message, document: bytes, send: Send) -> None:
        edited = document.replace(b"<head>", b"<head>" + self.script, 1)
        headers = []
        for name, value in started.get("headers", []):
            if name == b"content-length":
                value = str(len(edited)).encode()
            elif name == b"etag" and edited != document:
                # Another body, another validator: a cached copy without the hint is
                # not reused as if it were this one.
                value = value.rstrip(b'"') + b'-hint"' if value.endswith(b'"') else value
            headers.append((name, value))
        await send({**started, "headers": headers})
        await send({"type": "http.response.body", "body": edited, "more_body": False})
