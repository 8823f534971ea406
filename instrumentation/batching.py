"""Batch finished spans for export without dropping them when a burst fills the queue.

The SDK's ``BatchSpanProcessor`` drops every span that finds its queue full
("Queue full, dropping Span"): an agent that finishes spans faster than the
collector takes them (thousands of short runs in a loop) loses most of them.
:class:`BurstSafeSpanProcessor` batches the same way (a queue, a worker thread
exporting up to ``max_export_batch_size`` spans every ``schedule_delay_millis``
or as soon as a batch is ready), but a span that finds the queue full is not
dropped while the exporter works:

1. with a spill target (the on-disk spool), the producing thread moves the
   whole queue to it in one write, so the agent pays one encode and one fsync
   per full queue and goes on at disk speed; the spool replays it later;
2. otherwise (no spool, or the spool is at its bound) the producing thread
   waits until the worker has made room: back-pressure, the agent runs at the
   collector's pace.

Only when the exporter is failing (the collector is down and nothing can
spill) or the wait exceeds ``max_block_s`` is the span dropped, and counted.

With ``redact`` (see :mod:`instrumentation.span_redaction`) every batch is
redacted before it is exported (``AGENT_AUDIT_REDACT_WIRE``); a spill target
redacts what it writes itself (:mod:`instrumentation.spooling`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry.context import (
    _SUPPRESS_INSTRUMENTATION_KEY,  # the SDK's own key: exporting must not trace itself
    attach,
    detach,
    set_value,
)
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from instrumentation.forking import after_fork_in_child

__all__ = ["BatchLimits", "BurstSafeSpanProcessor", "SpillTarget"]

logger = logging.getLogger(__name__)

# Takes the spans the queue could not hold; False when it has no room for them.
SpillTarget = Callable[[Sequence[ReadableSpan]], bool]
# Redacted copies of a batch.
Redact = Callable[[Sequence[ReadableSpan]], Sequence[ReadableSpan]]

_WAIT_SLICE_S = 0.05


@dataclass(frozen=True, kw_only=True)
class BatchLimits:
    """Queue and batch sizes and the export schedule (the ``OTEL_BSP_*`` settings)."""

    max_queue_size: int = 2048
    max_export_batch_size: int = 512
    schedule_delay_millis: float = 500.0
    max_block_s: float = 30.0  # longest a producing thread waits for room before a drop

    def __post_init__(self) -> None:
        if self.max_queue_size <= 0 or self.max_export_batch_size <= 0:
            raise ValueError("max_queue_size and max_export_batch_size must be positive")
        if self.max_export_batch_size > self.max_queue_size:
            raise ValueError("max_export_batch_size must not exceed max_queue_size")
        if self.schedule_delay_millis <= 0 or self.max_block_s < 0:
            raise ValueError("schedule_delay_millis must be positive, max_block_s not negative")


class BurstSafeSpanProcessor(SpanProcessor):
    """A batching span processor that spills or waits instead of dropping (module docstring).

    ``healthy`` says whether the exporter is delivering (a producer waits for
    room only then); ``spill`` takes what the queue cannot hold, if given;
    ``on_drop`` hears of each drop (else one warning is logged); ``redact``
    makes what is exported or spilled.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        limits: BatchLimits | None = None,
        *,
        spill: SpillTarget | None = None,
        healthy: Callable[[], bool] = lambda: True,
        on_drop: Callable[[int], None] | None = None,
        redact: Redact | None = None,
    ) -> None:
        self._exporter = exporter
        self._redact: Redact = redact or (lambda spans: spans)
        self._limits = limits or BatchLimits()
        self._spill = spill
        self._healthy = healthy
        self._on_drop = on_drop
        self._max_queue = self._limits.max_queue_size
        self._batch_size = self._limits.max_export_batch_size
        # Appends and pops from both ends are atomic: the hot path takes no lock.
        self._queue: deque[ReadableSpan] = deque()
        self._shutdown = False
        self.spilled_spans = 0
        self.dropped_spans = 0
        self.waited_s = 0.0  # time producers spent waiting for room
        self._init_threads()
        after_fork_in_child(self._reset_after_fork)

    def _init_threads(self) -> None:
        self._export_lock = threading.Lock()
        self._spill_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._worker = threading.Thread(
            target=self._work, name="agent-audit-span-batcher", daemon=True
        )
        self._worker.start()

    def _reset_after_fork(self) -> None:
        self._queue.clear()  # the parent exports its own spans
        self._init_threads()

    # --- the agent's threads ----------------------------------------------------------
    def on_start(self, span: Span, parent_context: object = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue a finished span; at a full queue spill it or wait for room (never raises)."""
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        if self._shutdown:
            self._count_drop(1)
            return
        queue = self._queue
        if len(queue) < self._max_queue:
            queue.append(span)
            if len(queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
            return
        try:
            self._on_full(span)
        except Exception:  # the agent's thread: never raise into it
            logger.debug("span queue overflow handling failed", exc_info=True)
            self._count_drop(1)

    def export_soon(self) -> None:
        """Export everything queued now rather than at the next tick (never blocks).

        Called when a run ends: a process ended right after (SIGTERM's default
        action, ``os._exit``, a stopped container) then still delivered it.
        """
        if not self._wake.is_set():
            self._wake.set()

    def _on_full(self, span: ReadableSpan) -> None:
        if self._spill is not None and self._spill_queue(span):
            return
        self._wake.set()
        if self._wait_for_room():
            self._queue.append(span)
            return
        self._count_drop(1)

    def _spill_queue(self, span: ReadableSpan) -> bool:
        """Move the queue (oldest first) and ``span`` to the spill target in one write."""
        assert self._spill is not None
        with self._spill_lock:
            batch: list[ReadableSpan] = []
            try:
                while len(batch) < self._max_queue:
                    batch.append(self._queue.popleft())
            except IndexError:  # the worker took the rest meanwhile
                pass
            batch.append(span)
            try:
                spilled = self._spill(batch)  # the spool redacts what it writes
            except Exception:
                logger.debug("spilling %d spans failed", len(batch), exc_info=True)
                spilled = False
            if not spilled:
                # No room on disk: put them back (oldest at the front) and wait instead.
                self._queue.extendleft(reversed(batch[:-1]))
                return False
        with self._count_lock:
            self.spilled_spans += len(batch)
        return True

    def _wait_for_room(self) -> bool:
        began = time.monotonic()
        deadline = began + self._limits.max_block_s
        try:
            with self._room:
                while len(self._queue) >= self._max_queue:
                    if self._shutdown or not self._healthy() or time.monotonic() >= deadline:
                        return False
                    self._wake.set()
                    self._room.wait(_WAIT_SLICE_S)
            return True
        finally:
            with self._count_lock:
                self.waited_s += time.monotonic() - began

    def _count_drop(self, count: int) -> None:
        with self._count_lock:
            first = self.dropped_spans == 0
            self.dropped_spans += count
        if self._on_drop is not None:
            self._on_drop(count)
        elif first:
            logger.warning("span queue full and the exporter is not delivering: dropping spans")

    # --- the worker -------------------------------------------------------------------
    def _work(self) -> None:
        delay_s = self._limits.schedule_delay_millis / 1000.0
        while not self._shutdown:
            woken = self._wake.wait(delay_s)
            self._wake.clear()
            if self._shutdown:
                break
            # Woken (a run ended, a full batch, a full queue): send all that waits.
            self._export(everything=woken, at_least_one=True)
        self._export(everything=True, at_least_one=True)

    def _export(self, *, everything: bool, at_least_one: bool) -> None:
        with self._export_lock:
            exported_one = False
            while self._queue:
                full_batch = len(self._queue) >= self._batch_size
                if not (full_batch or everything or (at_least_one and not exported_one)):
                    break
                batch: list[ReadableSpan] = []
                try:
                    while len(batch) < self._batch_size:
                        batch.append(self._queue.popleft())
                except IndexError:  # a spilling producer took the rest
                    pass
                if not batch:
                    break
                with self._room:
                    self._room.notify_all()
                token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
                try:
                    self._exporter.export(self._redact(batch))
                except Exception:  # thread boundary: keep exporting later batches
                    logger.debug("span export raised", exc_info=True)
                finally:
                    detach(token)
                exported_one = True

    # --- lifecycle --------------------------------------------------------------------
    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything queued now (on the calling thread)."""
        if self._shutdown:
            return False
        self._export(everything=True, at_least_one=True)
        return True

    def shutdown(self) -> None:
        """Export what is queued, stop the worker and shut the exporter down."""
        if self._shutdown:
            return
        self._shutdown = True
        self._wake.set()
        with self._room:
            self._room.notify_all()
        self._worker.join()
        self._exporter.shutdown()
