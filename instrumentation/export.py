"""An exporter wrapper that drops spans quietly when the collector is away.

The SDK's OTLP exporters log a warning per retry and an error per failed batch.
:class:`GuardedExporter` turns an outage into ONE warning (and one info line
when exports work again, with the count of spans lost meanwhile), and can be
aborted so that shutting down never waits on retries against a dead endpoint.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["GuardedExporter"]

logger = logging.getLogger(__name__)

# Loggers of the SDK pieces whose per-batch failure messages GuardedExporter
# replaces with its single warning (module loggers of opentelemetry 1.3x-1.4x).
_SDK_EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
)
_SDK_QUEUE_LOGGER = "opentelemetry.sdk._shared_internal"
_EXPORT_FAILURE_PREFIXES = ("Transient error", "Failed to export")
_SHUTDOWN_MESSAGES = ("Shutdown in progress", "Exporter already shutdown")


class _ExportLogFilter(logging.Filter):
    """Swallows the SDK's per-batch span export failures; remembers the last one.

    Put first on the SDK's loggers, ahead of their own duplicate filter, so it
    sees every failure (a retry in progress tells shutdown not to wait).
    """

    def __init__(self, guard: GuardedExporter) -> None:
        super().__init__()
        self._guard = guard
        self.last_message: str | None = None
        self.retrying = False  # a transient failure since the last successful export

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if record.name == _SDK_QUEUE_LOGGER:
            # "Queue full, dropping Span." comes once per dropped span: count, warn once.
            if message.startswith("Queue full") and record.args == ("Span",):
                self._guard.note_queue_drop()
                return False
            return True
        if message.startswith(_SHUTDOWN_MESSAGES):
            return not self._guard.aborted
        args = record.args if isinstance(record.args, tuple) else ()
        about_spans = any(arg in ("traces", "spans") for arg in args)
        if about_spans and message.startswith(_EXPORT_FAILURE_PREFIXES):
            self.retrying = message.startswith("Transient error")
            try:
                self.last_message = record.getMessage()
            except Exception:
                self.last_message = message
            return False
        return True


class GuardedExporter(SpanExporter):
    """Wraps a span exporter: one warning per outage, a drop count, abortable."""

    def __init__(self, inner: SpanExporter, *, target: str) -> None:
        self._inner = inner
        self._target = target
        self._down = False
        self._aborted = False
        self._shut = False
        self._dropped = 0
        self._queue_dropped = 0
        self._warned = False
        self._ever_warned = False
        self._lock = threading.Lock()
        # A spooling exporter still takes batches after an abort (to disk).
        self._inner_keeps_after_abort = callable(getattr(inner, "abort", None))
        self._filter = _ExportLogFilter(self)
        self._filtered_loggers = [
            logging.getLogger(name) for name in (*_SDK_EXPORT_LOGGERS, _SDK_QUEUE_LOGGER)
        ]
        for sdk_logger in self._filtered_loggers:
            sdk_logger.filters.insert(0, self._filter)

    @property
    def is_down(self) -> bool:
        """True since the last export failed, until one succeeds."""
        return self._down

    @property
    def struggling(self) -> bool:
        """True while exports fail or are being retried: waiting on them is pointless."""
        return self._down or self._filter.retrying

    @property
    def aborted(self) -> bool:
        """True once :meth:`abort` was called."""
        return self._aborted

    @property
    def dropped_spans(self) -> int:
        """Spans lost so far: failed exports plus drops at a full queue."""
        return self._dropped + self._queue_dropped

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through the wrapped exporter; note failures without raising."""
        if self._aborted and not self._inner_keeps_after_abort:
            self._dropped += len(spans)
            return SpanExportResult.FAILURE
        try:
            result = self._inner.export(spans)
        except Exception:  # an exporter bug must not kill the batch thread's loop
            logger.debug("span exporter raised", exc_info=True)
            result = SpanExportResult.FAILURE
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self._filter.retrying = False
                if self._down or self._warned:
                    self._down = False
                    self._warned = False
                    logger.info(
                        "span export to %s works again; %d spans were dropped so far",
                        self._target,
                        self.dropped_spans,
                    )
                return result
            self._dropped += len(spans)
            if not self._down and not self._aborted:
                self._down = True
                self._announce(
                    f"cannot export spans to {self._target} "
                    f"({self._filter.last_message or 'export failed'}); "
                    "dropping spans until it answers again"
                )
        return result

    def note_queue_drop(self, count: int = 1) -> None:
        """The batch queue was full and ``count`` spans were dropped (on the agent's thread)."""
        self._queue_dropped += count
        if not self._warned:
            with self._lock:
                self._announce(
                    f"span queue full: dropping spans (is {self._target} slow or down, "
                    "or does the agent make spans faster than they can be sent?)"
                )

    def _announce(self, message: str) -> None:
        # One warning per outage; the info line on recovery re-arms it.
        if self._warned:
            return
        self._warned = True
        self._ever_warned = True
        logger.warning("%s", message)

    def abort(self) -> None:
        """Interrupt retries in flight; later exports fail at once (or go to the spool)."""
        with self._lock:
            if self._aborted:
                return
            self._aborted = True
        inner_abort = getattr(self._inner, "abort", None)
        if callable(inner_abort):
            inner_abort()
        else:
            self._shutdown_inner()

    def shutdown(self) -> None:
        """Shut the wrapped exporter down and stop filtering the SDK's log lines."""
        self._shutdown_inner()
        for sdk_logger in self._filtered_loggers:
            sdk_logger.removeFilter(self._filter)
        if self.dropped_spans:
            # A warning unless a loss was announced already.
            level = logging.INFO if self._ever_warned else logging.WARNING
            logger.log(
                level, "%d spans could not be exported to %s", self.dropped_spans, self._target
            )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter."""
        return self._inner.force_flush(timeout_millis)

    def _shutdown_inner(self) -> None:
        with self._lock:
            if self._shut:
                return
            self._shut = True
        try:
            self._inner.shutdown()
        except Exception:
            logger.debug("exporter shutdown failed", exc_info=True)
