"""A request cut off by the server's shutdown is answered "retry later", not 500.

At shutdown uvicorn lets requests in flight finish for a grace period, then
cancels those still running (a body still trickling in, a store still busy)
and answers each of them 500 Internal Server Error: to an exporter, a request
refused for good. Nothing of a cancelled request was acknowledged, so the
truthful answer is the retryable one (OTLP: 503 with Retry-After), given here
before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RetryWhenCutOff"]


class RetryWhenCutOff:
    """ASGI middleware: a request cancelled before its answer began gets
    ``answer(request)`` (a 503 with Retry-After), then the cancellation goes on.

    Outermost of the application's middleware, so that it is in the request's
    own task: what runs inside (BaseHTTPMiddleware) runs in tasks of its own."""

    def __init__(self, app: ASGIApp, answer: Callable[[Request], Response]) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except asyncio.CancelledError:
            if not started:
                response = self.answer(Request(scope))
                response.headers["Connection"] = "close"
                await response(scope, receive, send)
            raise
