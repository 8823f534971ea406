"""A size limit on the bodies of query API requests, checked as they arrive.

FastAPI reads a JSON body whole before it validates it: a 400 MB body sent to
``POST /sql`` (whose ``sql`` may be 100,000 characters) was read into memory,
grew the collector by 800 MB and was only then refused as not a query. A few
such bodies at once would end the collector. Here the body of every request
but OTLP's (``/v1/traces`` reads its own, up to
``AGENT_AUDIT_MAX_REQUEST_BYTES``) is read before the application sees it, up
to :data:`MAX_API_BODY_BYTES`; a declared ``Content-Length`` past it is
answered 413 before anything is read, and a chunked body as soon as it passes it.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_API_BODY_BYTES", "ApiBodyLimit"]

# The largest API body: a /sql query of 100,000 characters, each escaped as
# \uXXXX in JSON, is 600 KB.
MAX_API_BODY_BYTES = 1 << 20


class ApiBodyLimit:
    """ASGI middleware: the bodies of requests outside ``exempt`` paths are at most
    ``limit`` bytes, read in full before the application runs."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_API_BODY_BYTES, exempt: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared[:30]) > self.limit:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left before its body was in: nothing to answer.
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, when the client goes

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        detail = {"detail": f"request body larger than {self.limit} bytes"}
        payload = json.dumps(detail).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
