"""The mapping of one span, contained: a span it cannot read is stored raw only.

An attribute value may be of any OTLP type whatever its key's convention says
(a kvlist where a model name belongs, a list as the operation name). The
mapping reads hundreds of keys across the framework rules; one unexpected type
there must not fail the commit of the request it came in, which would lose
every good span beside it. So each span's classification and row building run
under a guard: a span the mapping cannot read is kept in ``spans`` (lossless,
as always), gets no run or step row, and is logged with its ids and the error;
``agent-audit rederive`` derives it again once the mapping reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from collector.decode import SpanRecord
from collector.mapping import SpanClass, classify

__all__ = ["classify_guarded", "mapped_or_none", "note_unmapped"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


def note_unmapped(span: SpanRecord, what: str) -> None:
    """Log (with the exception being handled) that ``span`` is stored raw only."""
    logger.warning(
        "span %s/%s (%r) is stored raw only: the mapping could not %s it",
        span.trace_id,
        span.span_id,
        span.name[:80],
        what,
        exc_info=True,
    )


def classify_guarded(span: SpanRecord) -> SpanClass:
    """``classify(span)``; OTHER (stored, not derived) when it cannot be read."""
    try:
        return classify(span)
    except Exception:  # noqa: BLE001 - untrusted values: contain, log, store raw
        note_unmapped(span, "classify")
        return SpanClass.OTHER


def mapped_or_none(span: SpanRecord, build: Callable[[], T]) -> T | None:
    """``build()`` (a run or step row of ``span``), or None when it cannot be built."""
    try:
        return build()
    except Exception:  # noqa: BLE001 - untrusted values: contain, log, store raw
        note_unmapped(span, "build a row from")
        return None
