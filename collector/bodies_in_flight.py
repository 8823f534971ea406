"""The memory OTLP request bodies cost the collector at once, bounded.

Each body is bounded by ``AGENT_AUDIT_MAX_REQUEST_BYTES``; their number was
not. Many exporters sending big requests together each had their body read
(and, for gzip, inflated) into memory, then waited for a decoding thread with
it: 48 senders of 8 MB requests grew the collector by 450 to 660 MiB
(``python -m bench.inflight_flood``). Here every body being read, inflated,
decoded and stored counts against one budget shared by the HTTP and gRPC
receivers, charged at what it costs in memory, not at its length: a body is
copied as it is received (chunks, then joined; grpc core's buffer, then
Python's bytes) and parsed, so holding N bytes of bodies grew the collector
by 2 to 4 times N. Each byte is charged ``COST_PER_BYTE`` of its receiver:

- HTTP: its declared ``Content-Length`` before the body is read, then what
  arrives past it, then its inflated size as it inflates;
- gRPC (no length is announced before the whole message is in): the largest
  message allowed before it is read, then its real size. A call can never
  gather more than was charged for it (charging a guess instead let the first
  calls of a burst gather their 8 MB messages on a 1 MiB estimate).

A request that does not fit waits its turn (first come first served among
connections holding as many requests; see ``BodiesInFlight._next``) for up
to ``WAIT_S`` (holding nothing: its bytes stay unread in the kernel's and
grpc core's buffers), then is answered "retry later" (HTTP 503 with
``Retry-After``, gRPC ``UNAVAILABLE`` with ``RetryInfo``; OTLP exporters retry
both). A request goes through whenever nothing else is held, so one request
of any size the body limit allows is never refused for ever.

While requests wait, a body arriving slower than 1 MiB/s on average (after a
first second; ``stall_limit_s``) gives its room back and is answered retry
later: a client trickling its body, or never sending it, would otherwise hold
the room every other exporter needs until the request timeout (with room for
the largest message charged, two gRPC calls whose message never came held the
whole default budget).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field

from collector.store_errors import Overloaded

__all__ = ["BodiesInFlight", "BodyHold", "COST_PER_BYTE", "stall_limit_s"]

# How long a refused exporter is asked to wait: long enough for the requests
# held now to be decoded and journaled (about a second for a 16 MB body here).
RETRY_AFTER_S = 1.0
# How long a request waits for room before it is refused: past the time a few
# 16 MB bodies take to be decoded and journaled, well within an exporter's 10 s.
WAIT_S = 2.0
# Memory per body byte, from receipt until stored (python -m bench.inflight_flood:
# peak RSS growth over what one sender alone costs, divided by the bytes held).
COST_PER_BYTE = {"http-protobuf": 2, "http-json": 3, "grpc": 2}


def stall_limit_s(arrived_bytes: int) -> float:
    """How long a body holding room may have been arriving, with ``arrived_bytes``
    of it in, while others wait for room: 1 s, plus a second per MiB arrived (an
    exporter sending at 1 MiB/s or more is never cut off; a gRPC message, whose
    bytes are seen only once it is whole, has 1 s)."""
    return 1.0 + arrived_bytes / (1024 * 1024)


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    connection: str
    arrived: int
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        # A closed loop (the server stopping) has no one left to wake.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.woken.set)


class BodiesInFlight:
    """Memory held right now by request bodies (as charged), and the most that may be."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._held = 0
        self._requests = 0
        self.refused = 0  # requests answered "retry later" for want of room, since start
        self.stalled = 0  # of them, bodies cut off for arriving too slowly while others waited
        self.waited = 0  # requests that waited for room and got it, since start
        self.peak_bytes = 0
        self._waiters: list[_Waiter] = []
        self._arrivals = itertools.count()
        # Requests holding room, by connection: the next room goes to a waiter whose
        # connection holds the least (see _next).
        self._holding: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        return self._held

    @property
    def requests(self) -> int:
        """Requests holding bytes now."""
        return self._requests

    @property
    def waiting(self) -> int:
        """Requests waiting for room now."""
        return len(self._waiters)

    def hold(self, connection: str = "") -> BodyHold:
        """A request's share of the budget; empty until it ``add``s its bytes.
        ``connection`` names the client connection it came on (its peer address)."""
        return BodyHold(self, connection)

    def _fits(self, hold: BodyHold, size: int) -> bool:
        return self._held == hold.bytes or self._held + size <= self.limit_bytes

    def _take(self, hold: BodyHold, size: int) -> None:
        if not hold.bytes and size:
            self._requests += 1
            self._holding[hold.connection] += 1
        self._held += size
        self.peak_bytes = max(self.peak_bytes, self._held)

    def _refusal(self) -> Overloaded:
        self.refused += 1
        return Overloaded(
            f"{self._held} bytes of memory are held by {self._requests} other requests being "
            f"received and stored, {len(self._waiters)} wait for room "
            f"(AGENT_AUDIT_MAX_INFLIGHT_BYTES={self.limit_bytes}); retry later",
            retry_after_s=RETRY_AFTER_S,
        )

    def _add(self, hold: BodyHold, size: int) -> None:
        with self._lock:
            if not self._fits(hold, size):
                raise self._refusal()
            self._take(hold, size)

    def _next(self) -> _Waiter | None:
        """Who has the next room: a waiter whose connection holds the fewest requests,
        first come first among them. One connection opening thousands of calls
        whose messages never come then delays other connections by one call at a
        time, not by all of its calls in turn."""
        return min(
            self._waiters, key=lambda w: (self._holding[w.connection], w.arrived), default=None
        )

    async def _reserve(self, hold: BodyHold, size: int, wait_s: float) -> None:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop, hold.connection, next(self._arrivals))
        with self._lock:
            if not self._waiters and self._fits(hold, size):
                self._take(hold, size)
                return
            self._waiters.append(waiter)
            if self._next() is waiter and self._fits(hold, size):
                self._waiters.remove(waiter)
                self._take(hold, size)
                return
        deadline = loop.time() + wait_s
        try:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    with self._lock:
                        raise self._refusal()
                try:
                    await asyncio.wait_for(waiter.woken.wait(), left)
                except TimeoutError:
                    continue
                waiter.woken.clear()
                with self._lock:
                    if self._next() is waiter and self._fits(hold, size):
                        self._take(hold, size)
                        self.waited += 1
                        return
        finally:
            with self._lock:
                self._waiters.remove(waiter)
                self._wake_next()

    def _wake_next(self) -> None:
        chosen = self._next()
        if chosen is not None:
            chosen.wake()

    def _shrink(self, hold: BodyHold, size: int, *, emptied: bool) -> None:
        with self._lock:
            self._held -= size
            if emptied and size:
                self._requests -= 1
                self._holding[hold.connection] -= 1
                if not self._holding[hold.connection]:
                    del self._holding[hold.connection]
            if size:
                self._wake_next()

    def note_stalled(self) -> Overloaded:
        """Count a body cut off for arriving too slowly while others waited."""
        with self._lock:
            self.stalled += 1
            self.refused += 1
        return Overloaded(
            "the request body arrived too slowly while other requests waited for room "
            f"(AGENT_AUDIT_MAX_INFLIGHT_BYTES={self.limit_bytes}); retry later",
            retry_after_s=RETRY_AFTER_S,
        )


class BodyHold:
    """One request's share of a BodiesInFlight; ``release`` once it is answered."""

    def __init__(self, budget: BodiesInFlight, connection: str) -> None:
        self._budget = budget
        self.connection = connection
        self.bytes = 0

    def add(self, size: int) -> None:
        """Count ``size`` more bytes of this request; raise Overloaded when they do not fit
        (what was added before stays held until ``release``)."""
        if size <= 0:
            return
        self._budget._add(self, size)
        self.bytes += size

    def grow_to(self, size: int) -> None:
        """Hold at least ``size`` bytes in all (a body inflated past what was read)."""
        self.add(size - self.bytes)

    async def reserve(self, size: int, wait_s: float = WAIT_S) -> None:
        """Hold at least ``size`` bytes in all, waiting in turn up to ``wait_s`` for
        room; raise Overloaded when there is none by then."""
        more = size - self.bytes
        if more <= 0:
            return
        await self._budget._reserve(self, more, wait_s)
        self.bytes += more

    def settle(self, size: int) -> None:
        """Hold exactly ``size`` bytes: a charge taken before a body was read is
        replaced by its real one (growing may raise Overloaded, shrinking never does)."""
        if size > self.bytes:
            self.add(size - self.bytes)
            return
        self._budget._shrink(self, self.bytes - size, emptied=size == 0)
        self.bytes = size

    def release(self) -> None:
        self.settle(0)

    def __enter__(self) -> BodyHold:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
