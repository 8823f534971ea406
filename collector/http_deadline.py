"""Deadlines that keep a client from holding a connection: its request must arrive,
and its answer must be taken.

uvicorn closes a connection idle between requests (keep-alive, 5 s), but waits
for ever on one that opened and sent nothing, half a request head, or part of
a body. Each such connection holds a file descriptor; a few thousand of them
(``ulimit -n``) leave none for new connections, the request journal or
DuckDB, and every exporter and API call then times out. Here a request's head
and body must have arrived within ``timeout_s`` of the connection opening or
the previous response ending; otherwise the connection is closed. The time the
application takes to answer is not counted.

The other direction is bounded the same way. A client that sends a request and
never reads the answer left it in the connection's write buffer for ever: a
16 MB ``/sql`` result per connection in the collector's memory, and the
temporary file of a ``/backup`` or ``/export`` download (a copy of the whole
database) on disk. The transport pauses the writer when its buffer passes the
high-water mark and resumes it once the client has taken enough; a writer paused
for ``timeout_s`` on end means the client stopped reading, and the connection
is aborted (not closed: a close waits for the buffer to drain).
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["deadline_protocol", "shed_idle_connections", "stop_serving_new_connections"]

# Connections whose request has not all arrived, with when they began to wait for
# it (monotonic, the event loop's clock), oldest first: what is closed first when
# the process runs out of descriptors (collector/descriptors.py). Each connection
# is armed and closed on its own server's event loop.
_WAITING: dict[_DeadlineH11Protocol, float] = {}


def shed_idle_connections(older_than_s: float = 1.0) -> int:
    """Close this event loop's connections that have waited ``older_than_s`` or more
    without sending a request head (none in progress), oldest first; return how many
    were closed. For a process out of descriptors: clients that send get them instead."""
    loop = asyncio.get_running_loop()
    closed = 0
    for connection, since in list(_WAITING.items()):
        if connection.loop is not loop:
            continue
        if loop.time() - since < older_than_s:
            break
        if connection.conn.their_state is h11.IDLE and not connection.transport.is_closing():
            connection.transport.abort()
            _WAITING.pop(connection, None)
            closed += 1
    return closed


class _DeadlineH11Protocol(H11Protocol):
    timeout_s: ClassVar[float] = 60.0
    # Set when the server's graceful shutdown begins (see stop_serving_new_connections).
    stopping: ClassVar[bool] = False
    _deadline: asyncio.TimerHandle | None = None
    _drain_check: asyncio.TimerHandle | None = None
    _drained_some = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.stopping:
            # Accepted just before the listener closed, set up just after uvicorn told
            # the open connections to finish: kept alive, it would take requests until
            # the shutdown's grace ran out and the one then running was cancelled.
            self.shutdown()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._drain_check is not None:
            self._drain_check.cancel()
            self._drain_check = None
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

    def pause_writing(self) -> None:
        # The client takes the answer slower than it is written: from now on it
        # must take some of it every timeout_s.
        super().pause_writing()
        self._watch_drain()

    def resume_writing(self) -> None:
        self._drained_some = True
        super().resume_writing()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.timeout_s, self._expire)
        _WAITING[self] = self.loop.time()

    def _disarm(self) -> None:
        _WAITING.pop(self, None)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        _WAITING.pop(self, None)
        if self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size():
            # The last answer is still going out: close once it is taken, or
            # abort if the client stops taking it (close() alone would wait).
            self._watch_drain()
        self.transport.close()

    def _watch_drain(self) -> None:
        if self._drain_check is None:
            self._drained_some = False
            self._drain_check = self.loop.call_later(
                self.timeout_s, self._check_drain, self._unsent()
            )

    def _unsent(self) -> int:
        """Bytes of answers the client has not taken: in the transport's buffer, and
        in the kernel's send queue (which takes megabytes before the transport
        can write again, so the buffer alone can stand still while a slow
        client reads)."""
        unsent = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
                unsent += struct.unpack("i", queued)[0]
            except OSError:
                pass
        return unsent

    def _check_drain(self, unsent_before: int) -> None:
        self._drain_check = None
        if not self.transport.get_write_buffer_size():
            return
        if self._drained_some or self._unsent() < unsent_before:
            self._watch_drain()
            return
        # Nothing taken for timeout_s: drop the buffer. connection_lost follows,
        # the application's pending send returns, and a download's cleanup runs.
        self.transport.abort()


def stop_serving_new_connections(protocol: type[asyncio.Protocol]) -> None:
    """From now on a connection of ``protocol`` (from ``deadline_protocol``) that
    comes up is closed before it reads a request: the server is shutting down."""
    if issubclass(protocol, _DeadlineH11Protocol):
        protocol.stopping = True


def deadline_protocol(timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request is not in within
    ``timeout_s`` and aborting those whose answer is not taken for ``timeout_s``."""
    return type("DeadlineH11Protocol", (_DeadlineH11Protocol,), {"timeout_s": timeout_s})
