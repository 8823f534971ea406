"""A whole-answer time limit for model calls, which httpx's timeouts do not give.

httpx bounds each read, not the answer: a model server sending one byte every few
seconds, in its headers or its body, kept a model call (and its run, and a slot of
the service) busy for as long as it liked. :class:`DeadlineTransport` gives every
request its own connection and a deadline for the whole exchange: the body is
checked at every chunk, and a timer closes the connection when the headers are
still arriving at the deadline. Past it, the request fails with
``httpx.ReadTimeout``, which the OpenAI client reports as a time-out. The answer is
bounded in size too (:data:`MAX_ANSWER_BYTES`): a server sending hundreds of megabytes
had the whole text held several times over (answer, thinking, the HTTP answer to the
caller); past the bound the request fails with :class:`AnswerTooLarge`, before the
rest is read. Built on the HTTP library the
installed OpenAI client uses (``httpx2`` since openai 3, ``httpx`` before).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

try:  # the HTTP client the OpenAI client is built on: httpx2 since openai 3, httpx before
    import httpx2 as httpx
except ImportError:  # pragma: no cover - an older openai
    import httpx  # type: ignore[no-redef]

__all__ = ["MAX_ANSWER_BYTES", "AnswerTooLarge", "DeadlineTransport"]

# A model's answer, tool calls included, is at most a few hundred kilobytes of JSON.
MAX_ANSWER_BYTES = 8 * 1024 * 1024


class AnswerTooLarge(httpx.ReadError):
    """The model server's answer is over :data:`MAX_ANSWER_BYTES`."""

    def __init__(self, request: httpx.Request, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit} bytes", request=request)
        self.limit = limit


class DeadlineTransport(httpx.BaseTransport):
    """Each request on a fresh connection, answered in full within ``total_s`` or failed."""

    def __init__(self, total_s: float, max_bytes: int = MAX_ANSWER_BYTES) -> None:
        self._total_s = total_s
        self._max_bytes = max_bytes
        # Built once: loading the CA certificates costs ~40 ms, a connection almost nothing.
        self._ssl_context = httpx.create_ssl_context()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # A connection of its own: closing it at the deadline touches no other call.
        transport = httpx.HTTPTransport(verify=self._ssl_context)
        deadline = time.monotonic() + self._total_s
        timer = threading.Timer(self._total_s, transport.close)
        timer.daemon = True
        timer.start()
        try:
            response = transport.handle_request(request)
        except Exception as exc:
            timer.cancel()
            transport.close()
            if time.monotonic() >= deadline:
                raise self._late(request) from exc
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        declared = response.headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > self._max_bytes:
            timer.cancel()
            transport.close()  # the body is never read
            raise AnswerTooLarge(request, self._max_bytes)
        response.stream = _DeadlineStream(
            response.stream,
            transport,
            timer,
            deadline,
            lambda: self._late(request),
            lambda: AnswerTooLarge(request, self._max_bytes),
            self._max_bytes,
        )
        return response

    def _late(self, request: httpx.Request) -> httpx.ReadTimeout:
        return httpx.ReadTimeout(
            f"the answer did not arrive in full within {self._total_s:g} s", request=request
        )


class _DeadlineStream(httpx.SyncByteStream):
    def __init__(
        self,
        inner: httpx.SyncByteStream,
        transport: httpx.HTTPTransport,
        timer: threading.Timer,
        deadline: float,
        late: Callable[[], httpx.ReadTimeout],
        too_large: Callable[[], AnswerTooLarge],
        max_bytes: int,
    ) -> None:
        self._inner = inner
        self._transport = transport
        self._timer = timer
        self._deadline = deadline
        self._late = late
        self._too_large = too_large
        self._max_bytes = max_bytes

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        try:
            for chunk in self._inner:
                if time.monotonic() >= self._deadline:
                    raise self._late()
                received += len(chunk)
                if received > self._max_bytes:
                    raise self._too_large()
                yield chunk
        except httpx.TransportError as exc:
            if time.monotonic() >= self._deadline and not isinstance(exc, httpx.ReadTimeout):
                raise self._late() from exc
            raise

    def close(self) -> None:
        self._timer.cancel()
        try:
            self._inner.close()
        finally:
            self._transport.close()
