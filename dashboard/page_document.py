"""ASGI aids for middleware that edit the page document Streamlit serves.

Streamlit answers every path that is not one of its own routes with the same
HTML document (the app then reads the path itself). A middleware that adds to
that document asks for it uncompressed, collects the whole answer, and sends its
edited copy; every other answer passes through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "SendEdited",
    "edit_document",
    "is_document_request",
    "without_request_headers",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Called with the held ``http.response.start`` message, the whole document and ``send``.
SendEdited = Callable[[Message, bytes, Send], Awaitable[None]]

# Streamlit's own routes: never the page document.
_NOT_DOCUMENTS = ("_stcore", "static", "component", "media", "app")


def is_document_request(scope: Scope) -> bool:
    """An HTTP GET of a path that may be the page document (not a Streamlit route)."""
    if scope["type"] != "http" or scope.get("method") != "GET":
        return False
    path = str(scope.get("path") or "/")
    return path.strip("/").split("/", 1)[0] not in _NOT_DOCUMENTS


def without_request_headers(scope: Scope, names: Collection[bytes]) -> Scope:
    """A copy of ``scope`` whose request carries none of the headers ``names`` (lowercase)."""
    edited = dict(scope)
    edited["headers"] = [
        (name, value) for name, value in scope.get("headers", []) if name not in names
    ]
    return edited


async def edit_document(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, send_edited: SendEdited
) -> None:
    """Run ``app``; hand an uncompressed 200 HTML answer, whole, to ``send_edited``, which
    sends it on; pass any other answer through as it comes.

    Ask for the document uncompressed first (``without_request_headers(scope,
    (b"accept-encoding",))``): a compressed one passes through unedited.
    """
    started: Message | None = None
    body: list[bytes] = []

    async def collect(message: Message) -> None:
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
        await send_edited(started, b"".join(body), send)

    await app(scope, receive, collect)
