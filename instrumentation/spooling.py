"""Spans that could not be exported wait in the on-disk spool until the collector is back.

:class:`SpoolingExporter` wraps the OTLP exporter. When an export fails, the
batch is encoded as an OTLP ``ExportTraceServiceRequest`` (the SDK's own
encoder) and written to a file in the spool directory; from then on new batches
go straight to the spool, in order, so the agent's batch thread never waits on
a dead endpoint. A daemon thread replays the files oldest first, sending the
raw protobuf over gRPC or HTTP, and deletes each file only after the collector
acknowledged it. When the spool is empty again, exports go direct.

The spool is bounded in bytes: when full, the oldest files are dropped with a
warning. Files left by an earlier process are replayed at start. A file whose
send succeeded but could not be deleted (the process died in between) is sent
again: harmless, since the collector upserts spans by id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from instrumentation.forking import after_fork_in_child
from instrumentation.senders import SendError
from instrumentation.spool import SpanSpool, encode_batch, split_request

__all__ = ["SpoolingExporter"]

logger = logging.getLogger(__name__)

# How long an export waits for spool room while replays go through (then the oldest go).
_MAX_WAIT_FOR_ROOM_S = 30.0
_ROOM_POLL_S = 0.05


class SpoolingExporter(SpanExporter):
    """Wraps an exporter: failed batches go to a :class:`SpanSpool` and are replayed."""

    def __init__(
        self,
        inner: SpanExporter,
        spool: SpanSpool,
        send: Callable[[bytes], None],
        *,
        target: str,
        retry_interval_s: float = 1.0,
        max_retry_interval_s: float = 10.0,
        redact: Callable[[Sequence[ReadableSpan]], Sequence[ReadableSpan]] | None = None,
    ) -> None:
        self._inner = inner
        # What reaches the agent's disk is redacted first (instrumentation.span_redaction).
        self._redact = redact or (lambda spans: spans)
        self.spool = spool
        self._send = send
        self._target = target
        self._retry_interval_s = retry_interval_s
        self._max_retry_interval_s = max(max_retry_interval_s, retry_interval_s)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._spooling = False
        self._closed = False
        self._aborted = False
        self._inner_shut = False
        self._replayer: threading.Thread | None = None
        self._replay_failing = False  # the last replay pass stopped at a retryable failure
        if spool.pending():  # left by an earlier process
            with self._lock:
                self._start_spooling_locked(announce=False)
        after_fork_in_child(self._reset_after_fork)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._replayer = None
        if self._spooling:
            with self._lock:
                self._start_spooling_locked(announce=False)

    @property
    def spooling(self) -> bool:
        """True while batches wait on disk (new batches then go to the spool too)."""
        return self._spooling

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export direct when the collector answers, else spool to disk."""
        if not self._spooling and not self._closed:
            try:
                if self._inner.export(spans) is SpanExportResult.SUCCESS:
                    return SpanExportResult.SUCCESS
            except Exception:
                logger.debug("span exporter raised", exc_info=True)
        try:
            payload = encode_batch(self._redact(spans))
        except Exception:
            logger.warning("could not encode %d spans for the spool; dropped", len(spans))
            return SpanExportResult.FAILURE
        written = self._put_when_room(payload) if self._spooling else None
        with self._lock:
            if written is None:
                written = self.spool.put(payload)
            if written is not None:
                self._start_spooling_locked(announce=True)
        return SpanExportResult.SUCCESS if written is not None else SpanExportResult.FAILURE

    def _put_when_room(self, payload: bytes) -> Path | None:
        """While replays go through, wait for room rather than drop the oldest files.

        A burst larger than the spool then slows the agent to the collector's
        pace (its queue fills, see :mod:`instrumentation.batching`) instead of
        losing spans. With the collector down, None at once: the caller drops
        the oldest, keeping the newest spans.
        """
        deadline = time.monotonic() + _MAX_WAIT_FOR_ROOM_S
        while not self._replay_failing and not self._closed:
            written = self.spool.put_if_room(payload)
            if written is not None or time.monotonic() >= deadline:
                return written
            self._stopped.wait(_ROOM_POLL_S)
        return None

    def spill(self, spans: Sequence[ReadableSpan]) -> bool:
        """Keep spans the batch queue could not hold; False when the spool has no room.

        Runs on the agent's thread (see :mod:`instrumentation.batching`): one
        encode and one durable write for the whole queue. Nothing spooled
        before is dropped for them; the replay thread sends them later.
        """
        payload = encode_batch(self._redact(spans))
        with self._lock:
            written = self.spool.put_if_room(payload)
            if written is None:
                return False
            if not self._spooling:
                logger.info(
                    "span queue full: %d spans moved to %s; they are sent from there",
                    len(spans),
                    self.spool.directory,
                )
            self._start_spooling_locked(announce=False)
        return True

    def replay_once(self) -> bool:
        """Send spooled files oldest first; False at a retryable failure, True when all went."""
        for path in self.spool.pending():
            if self._aborted:
                return False
            try:
                payload = path.read_bytes()
            except FileNotFoundError:
                continue  # another process replayed it
            except OSError as exc:
                logger.warning("unreadable spool file %s (%s); dropped", path, exc)
                self.spool.remove(path)
                continue
            try:
                self._send_in_parts(payload)
            except SendError as exc:
                if exc.retryable:
                    logger.debug("replay of %s deferred: %s", path.name, exc)
                    return False
                logger.warning("collector refused spooled batch %s (%s); dropped", path.name, exc)
            self.spool.remove(path)
        return True

    def _send_in_parts(self, payload: bytes) -> None:
        """Send ``payload``; one too large for the collector goes as two halves, and so
        on down to single spans. Raises the first retryable :class:`SendError` (the
        file is sent again later: parts already taken are upserted, not doubled)."""
        try:
            self._send(payload)
            return
        except SendError as exc:
            if not exc.too_large:
                raise
            halves = split_request(payload)
            if halves is None:
                logger.warning("a span larger than the collector takes (%s); dropped", exc)
                return
        for half in halves:
            try:
                self._send_in_parts(half)
            except SendError as exc:
                if exc.retryable:
                    raise
                logger.warning("collector refused part of a spooled batch (%s); dropped", exc)

    def abort(self) -> None:
        """Stop trying the collector: later batches go straight to the spool."""
        self._aborted = True
        self._closed = True
        self._shutdown_inner()

    def shutdown(self) -> None:
        """Stop replaying and shut the wrapped exporter down; unsent files stay for later.

        Unless aborted, one last replay pass runs first (it stops at the first
        failure, so a collector that is down costs one send timeout at most).
        """
        self._closed = True
        self._stopped.set()
        if self._spooling and not self._aborted:
            try:
                self.replay_once()
            except Exception:
                logger.debug("final spool replay failed", exc_info=True)
        self._shutdown_inner()
        closer = getattr(self._send, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:
                logger.debug("closing spool sender failed", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter (spooled files are flushed to disk already)."""
        return self._inner.force_flush(timeout_millis)

    def _shutdown_inner(self) -> None:
        with self._lock:
            if self._inner_shut:
                return
            self._inner_shut = True
        try:
            self._inner.shutdown()
        except Exception:
            logger.debug("exporter shutdown failed", exc_info=True)

    def _start_spooling_locked(self, *, announce: bool) -> None:
        if not self._spooling and announce:
            logger.warning(
                "cannot export spans to %s; spooling them to %s until it answers again",
                self._target,
                self.spool.directory,
            )
        self._spooling = True
        if self._replayer is None and not self._stopped.is_set():
            self._replayer = threading.Thread(
                target=self._replay_loop, name="agent-audit-spool-replay", daemon=True
            )
            self._replayer.start()

    def _replay_loop(self) -> None:
        delay = self._retry_interval_s
        while not self._stopped.wait(delay):
            try:
                drained = self.replay_once()
            except Exception:  # thread boundary
                logger.debug("spool replay failed", exc_info=True)
                drained = False
            self._replay_failing = not drained
            if not drained:
                delay = min(delay * 2, self._max_retry_interval_s)
                continue
            with self._lock:
                if not self.spool.pending():
                    self._spooling = False
                    self._replayer = None
                    logger.info("span export to %s works again; spool replayed", self._target)
                    return
            delay = 0.0  # more files came meanwhile and the collector answers: go on
