"""What a run and a step share: their span, and attributes set on it without raising."""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from instrumentation import attributes as attr
from instrumentation.encoding import attribute_value, clean_text, error_text, error_type

__all__ = ["SpanOwner", "record_failure"]

logger = logging.getLogger(__name__)


class SpanOwner:
    """A handle on one span; the subclass sets ``_span`` (``trace.INVALID_SPAN`` until started)."""

    __slots__ = ()

    _span: Span

    @property
    def span(self) -> Span:
        """The span (a non-recording span before it starts or when tracing is off)."""
        return self._span

    def set_attribute(self, key: str, value: Any) -> None:
        """Any extra attribute (e.g. ``ssh.host``); non-primitive values become JSON text."""
        if not isinstance(key, str) or not key:
            raise ValueError("attribute key must be a non-empty string")
        self._set(clean_text(key), attribute_value(value))

    def _set(self, key: str, value: Any) -> None:
        """Set one attribute; None is left out, and a failing span never reaches the agent."""
        if value is None:
            return
        try:
            self._span.set_attribute(key, value)
        except Exception:
            logger.debug("could not set attribute %s", key, exc_info=True)


def record_failure(span: Span, failure: BaseException | str, text_key: str) -> None:
    """Mark ``span`` failed: ``text_key`` and ``error.type``, an exception event, ERROR status.

    Each part is set on its own, so an exception whose ``__str__`` raises (the SDK's
    ``record_exception`` calls it) still leaves the status and the text recorded.
    """
    text = error_text(failure)
    is_exception = isinstance(failure, BaseException)
    parts = (
        lambda: span.set_attribute(text_key, text),
        lambda: span.set_attribute(
            attr.ERROR_TYPE,
            error_type(failure) if isinstance(failure, BaseException) else "_OTHER",
        ),
        lambda: _exception_event(span, failure) if is_exception else None,
        lambda: span.set_status(Status(StatusCode.ERROR, text)),
    )
    for part in parts:
        try:
            part()
        except Exception:
            logger.debug("could not record a failure on %s", text_key, exc_info=True)


def _exception_event(span: Span, failure: BaseException | str) -> None:
    assert isinstance(failure, BaseException)
    try:
        span.record_exception(failure)
    except Exception:  # a broken __str__ or traceback: the event without them
        span.add_event(
            "exception",
            {"exception.type": error_type(failure), "exception.message": error_text(failure)},
        )
