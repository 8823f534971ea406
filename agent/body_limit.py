"""A cap on request bodies for the agent service: a 413, before the body is kept in memory.

``POST /agent/run`` takes a task of at most 100,000 characters and a small
metadata object; without a cap, a body of any size (``metadata`` holding
hundreds of megabytes) was read whole and parsed before validation said no.
A declared ``Content-Length`` past the cap is refused before anything is read;
a chunked body is counted as it arrives and refused once it passes the cap.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodyLimit"]

# A 100,000-character task written entirely in \uXXXX escapes is 600 KB.
MAX_BODY_BYTES = 2 * 1024 * 1024


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware answering 413 to a request body larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        too_large = False

        async def counted() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        answered = False

        async def guarded_send(message: Message) -> None:
            # The app answers an unreadable body (400) once reading it failed: say 413.
            nonlocal answered
            if too_large:
                if not answered:
                    answered = True
                    await self._refuse(send)
                return
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except _TooLarge:
            if not answered:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body: dict[str, Any] = {
            "detail": f"request body larger than {self.max_bytes} bytes",
        }
        payload = json.dumps(body).encode()
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
