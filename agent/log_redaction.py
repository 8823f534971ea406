"""Log lines of the agent service pass through the same redaction as its spans.

A log line holds what the trail refuses to store as easily as a span does: the
model server's URL with its credentials (httpx logs every request), a model
server's error text quoting a key, a tool's exception. :func:`redact_log_handlers`
puts a filter on the handlers that write the service's output, so each line is
redacted once it is formatted, traceback included.
"""

from __future__ import annotations

import logging

from instrumentation.redaction import Redactor

__all__ = ["RedactingFilter", "redact_log_handlers"]

# The loggers whose handlers write the service's output: the root (basicConfig) and
# uvicorn's, which do not propagate to it. Not uvicorn.access: the service turns the
# access log off, and its formatter needs the record's arguments as they were.
SERVICE_LOGGERS = ("", "uvicorn", "uvicorn.error")


class RedactingFilter(logging.Filter):
    """Replaces a record's message (and its traceback text) by their redacted form."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it, we keep it unchanged
            return True
        record.msg = self._redactor.redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor.redact_text(record.stack_info)
        return True


def redact_log_handlers(redactor: Redactor, loggers: tuple[str, ...] = SERVICE_LOGGERS) -> None:
    """Put one :class:`RedactingFilter` on every handler of ``loggers`` (again: no-op)."""
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter(redactor))
