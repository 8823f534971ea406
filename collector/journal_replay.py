"""Start-up: apply what the request journal holds before any receiver runs.

Entries are read oldest first and committed in batches; an entry the store
refuses (a bug, not the disk: storage trouble stops the start) is kept in a
``rejected-*.json`` file and logged, never dropped. Once every entry is
committed the segments are removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from collector.decode import SpanRecord
from collector.journal import keep_rejected, read_entries, remove_segments
from collector.journal_codec import JournalDecodeError, decode_spans

__all__ = ["replay_journal", "journaled_spans"]

logger = logging.getLogger(__name__)

# Commits the spans; returns None, or the error of data it cannot store.
Apply = Callable[[list[SpanRecord]], Exception | None]


def replay_journal(directory: Path, apply: Apply, batch_spans: int) -> int:
    """Apply every intact entry; return how many spans were applied."""
    if not directory.exists():
        return 0
    total = 0
    batch: list[tuple[bytes, list[SpanRecord]]] = []
    size = 0
    for path, payload in read_entries(directory, keep_damaged=True):
        try:
            spans = decode_spans(payload)
        except JournalDecodeError as exc:
            kept = keep_rejected(directory, payload)
            logger.error("%s: an entry is not spans (%s); kept in %s", path, exc, kept)
            continue
        batch.append((payload, spans))
        size += len(spans)
        if size >= batch_spans:
            total += _apply(directory, apply, batch)
            batch, size = [], 0
    if batch:
        total += _apply(directory, apply, batch)
    remove_segments(directory)
    return total


def _apply(directory: Path, apply: Apply, batch: list[tuple[bytes, list[SpanRecord]]]) -> int:
    if apply([s for _, spans in batch for s in spans]) is None:
        return sum(len(spans) for _, spans in batch)
    applied = 0
    for payload, spans in batch:  # one entry's data may be the cause
        error = apply(spans)
        if error is None:
            applied += len(spans)
            continue
        kept = keep_rejected(directory, payload)
        logger.error("a journaled request cannot be stored (%s); kept in %s", error, kept)
    return applied


def journaled_spans(directory: Path) -> list[SpanRecord]:
    """The spans the journal holds (collector stopped): acknowledged, maybe not yet applied."""
    spans: list[SpanRecord] = []
    for _, payload in read_entries(directory):
        try:
            spans.extend(decode_spans(payload))
        except JournalDecodeError:
            continue
    return spans
