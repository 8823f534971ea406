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
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = ["BaseUrlHint", "hint_script"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Paths that are never the page document (Streamlit's routes), left untouched.
_NOT_DOCUMENTS = ("_stcore", "static", "component", "media", "app")


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
        path = str(scope.get("path") or "/")
        first = path.strip("/").split("/", 1)[0]
        if scope["type"] != "http" or scope.get("method") != "GET" or first in _NOT_DOCUMENTS:
            await self.app(scope, receive, send)
            return
        # The document is ~8 kB: ask for it uncompressed, so it can be edited.
        scope = dict(scope)
        scope["headers"] = [
            (name, value) for name, value in scope.get("headers", []) if name != b"accept-encoding"
        ]
        started: Message | None = None
        body: list[bytes] = []

        async def edit(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                is_html = headers.get(b"content-type", b"").startswith(b"text/html")
                if is_html and b"content-encoding" not in headers and message["status"] == 200:
                    started = message
                    return
                await send(message)
                return
            if started is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            await self._send_edited(started, b"".join(body), send)

        await self.app(scope, receive, edit)

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
