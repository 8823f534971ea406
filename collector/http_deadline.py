"""A deadline for an HTTP request to arrive: a client that never finishes sending is cut off.

uvicorn closes a connection idle between requests (keep-alive, 5 s), but waits
for ever on one that opened and sent nothing, half a request head, or part of
a body. Each such connection holds a file descriptor; a few thousand of them
(``ulimit -n``) leave none for new connections, the request journal or
DuckDB, and every exporter and API call then times out. Here a request's head
and body must have arrived within ``timeout_s`` of the connection opening or
the previous response ending; otherwise the connection is closed. The time the
application takes to answer is not counted.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["deadline_protocol"]


class _DeadlineH11Protocol(H11Protocol):
    timeout_s: ClassVar[float] = 60.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        # The request is in once its body is: from there on the application has it.
        if self.cycle is not None and not self.cycle.more_body:
            self._disarm()

    def on_response_complete(self) -> None:
        # Armed before the base class hands over a pipelined request already in
        # (handle_events, above, then disarms it).
        self._arm()
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def deadline_protocol(timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request is not in within ``timeout_s``."""
    return type("DeadlineH11Protocol", (_DeadlineH11Protocol,), {"timeout_s": timeout_s})
