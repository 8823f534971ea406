"""The bytes of OTLP request bodies the collector holds at once, bounded.

Each body is bounded by ``AGENT_AUDIT_MAX_REQUEST_BYTES``; their number was
not. Many exporters sending big requests together each had their body read
(and, for gzip, inflated) into memory, and then waited for a decoding thread
with it: 64 concurrent 8 MB requests held half a gigabyte before the first was
stored, and every further sender added its own. Here every body being read,
inflated, decoded and stored counts against one budget shared by the HTTP and
gRPC receivers. A request that would pass it is answered "retry later"
(HTTP 503 with ``Retry-After``, gRPC ``UNAVAILABLE`` with ``RetryInfo``; OTLP
exporters retry both) and its bytes are let go, unless nothing else is held:
then it goes through, so one request of any size the body limit allows is
never refused for ever.
"""

from __future__ import annotations

import threading

from collector.store_errors import Overloaded

__all__ = ["BodiesInFlight", "BodyHold"]

# How long a refused exporter is asked to wait: long enough for the requests
# held now to be decoded and journaled (about a second for a 16 MB body here).
RETRY_AFTER_S = 1.0


class BodiesInFlight:
    """Bytes of request bodies held right now, and the most that may be."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._held = 0
        self._requests = 0
        self.refused = 0  # requests answered "retry later" for want of room, since start
        self.peak_bytes = 0
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

    def release(self) -> None:
        size, self.bytes = self.bytes, 0
        self._budget._release(size)

    def __enter__(self) -> BodyHold:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
