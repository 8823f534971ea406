"""What a run and a step share: their span, and attributes set on it without raising."""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.trace import Span

from instrumentation.encoding import attribute_value

__all__ = ["SpanOwner"]

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
        self._set(key, attribute_value(value))

    def _set(self, key: str, value: Any) -> None:
        """Set one attribute; None is left out, and a failing span never reaches the agent."""
        if value is None:
            return
        try:
            self._span.set_attribute(key, value)
        except Exception:
            logger.debug("could not set attribute %s", key, exc_info=True)
