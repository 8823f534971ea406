"""The bytes of OTLP request bodies the collector holds at once, bounded.

Each body is bounded by ``AGENT_AUDIT_MAX_REQUEST_BYTES``; their number was
not. Many exporters sending big requests together each had their body read
(and, for gzip, inflated) into memory, then waited for a decoding thread with
it: 48 senders of 8 MB requests grew the collector by 450 to 660 MiB
(``python -m bench.inflight_flood``). Here every body being read, inflated,
decoded and stored counts against one budget shared by the HTTP and gRPC
receivers:

- HTTP: its declared ``Content-Length`` before the body is read, then what
  arrives past it, then its inflated size;
- gRPC (no length is announced): an estimate before the message is read (1 MiB
  until sizes are seen, then the recent sizes: up at once to a bigger one, down
  by a fifth of the difference for each smaller one), then its real size.

A request that would pass the budget is answered "retry later" (HTTP 503 with
``Retry-After``, gRPC ``UNAVAILABLE`` with ``RetryInfo``; OTLP exporters retry
both) and its bytes are let go, unless nothing else is held: then it goes
through, so one request of any size the body limit allows is never refused for
ever.
"""

from __future__ import annotations

import threading

from collector.store_errors import Overloaded

__all__ = ["BodiesInFlight", "BodyHold"]

# How long a refused exporter is asked to wait: long enough for the requests
# held now to be decoded and journaled (about a second for a 16 MB body here).
RETRY_AFTER_S = 1.0
# What a gRPC message not read yet is taken to hold at first, and at least (see
# BodiesInFlight.estimate). Not the largest allowed: 16 calls whose message never
# came would then hold the whole default budget until the request timeout, and
# every other exporter would be refused meanwhile (tests/reliability/test_slow_clients.py).
_FIRST_ESTIMATE = 1024 * 1024
_MIN_ESTIMATE = 64 * 1024


class BodiesInFlight:
    """Bytes of request bodies held right now, and the most that may be."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._held = 0
        self._requests = 0
        self.refused = 0  # requests answered "retry later" for want of room, since start
        self.peak_bytes = 0
        self._estimate = _FIRST_ESTIMATE
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        return self._held

    @property
    def requests(self) -> int:
        """Requests holding bytes now."""
        return self._requests

    def hold(self) -> BodyHold:
        """A request's share of the budget; empty until it ``add``s its bytes."""
        return BodyHold(self)

    def _add(self, hold: BodyHold, size: int) -> None:
        with self._lock:
            others = self._held - hold.bytes
            if others > 0 and self._held + size > self.limit_bytes:
                self.refused += 1
                raise Overloaded(
                    f"{others} bytes of other requests are being received and stored "
                    f"(AGENT_AUDIT_MAX_INFLIGHT_BYTES={self.limit_bytes}); retry later",
                    retry_after_s=RETRY_AFTER_S,
                )
            if not hold.bytes and size:
                self._requests += 1
            self._held += size
            self.peak_bytes = max(self.peak_bytes, self._held)

    def _release(self, size: int) -> None:
        with self._lock:
            self._held -= size
            if size:
                self._requests -= 1

    def _shrink(self, size: int, *, emptied: bool) -> None:
        with self._lock:
            self._held -= size
            if emptied and size:
                self._requests -= 1

    def estimate(self) -> int:
        """What a body not read yet is taken to hold: the recent average size."""
        return self._estimate

    def note_size(self, size: int) -> None:
        """A body was read: up at once to a bigger size, down slowly to smaller ones."""
        with self._lock:
            settled = size if size > self._estimate else 0.8 * self._estimate + 0.2 * size
            self._estimate = max(_MIN_ESTIMATE, int(settled))


class BodyHold:
    """One request's bytes in a BodiesInFlight; ``release`` once it is answered."""

    def __init__(self, budget: BodiesInFlight) -> None:
        self._budget = budget
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

    def settle(self, size: int) -> None:
        """Hold exactly ``size`` bytes: an estimate taken before a body was read is
        replaced by its real size (growing may raise Overloaded, shrinking never does)."""
        if size > self.bytes:
            self.add(size - self.bytes)
            return
        self._budget._shrink(self.bytes - size, emptied=size == 0)
        self.bytes = size

    def release(self) -> None:
        size, self.bytes = self.bytes, 0
        self._budget._release(size)

    def __enter__(self) -> BodyHold:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
