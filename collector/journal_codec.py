"""Span records <-> the bytes of one journal entry. Pure: no I/O.

An entry holds one ingest request's spans after redaction, as JSON (orjson; the
standard library's json for what orjson refuses, such as integers past 64
bits). JSON, not pickle: reading a journal must never run code, whoever wrote
the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson

from collector.decode import SpanRecord

__all__ = ["encode_spans", "decode_spans", "JournalDecodeError"]

_ORJSON = b"o"
_STDLIB = b"j"
# The fields of one span row (_row).
_ROW_FIELDS = 15


class JournalDecodeError(ValueError):
    """An entry whose checksum matched but whose content is not spans."""


def _row(span: SpanRecord) -> list[Any]:
    return [
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.name,
        span.kind,
        span.start_ns,
        span.end_ns,
        span.status_code,
        span.status_message,
        span.attributes,
        span.events,
        span.links,
        span.resource,
        span.scope_name,
        span.scope_version,
    ]


def encode_spans(spans: Sequence[SpanRecord]) -> bytes:
    """One entry's payload: a codec byte, then a JSON array of span rows."""
    rows = [_row(s) for s in spans]
    try:
        return _ORJSON + orjson.dumps(rows)
    except TypeError:  # an integer past 64 bits, say
        return _STDLIB + json.dumps(rows, separators=(",", ":"), allow_nan=False).encode()


def decode_spans(payload: bytes) -> list[SpanRecord]:
    """The spans of one entry; raises JournalDecodeError if it is not one."""
    codec, body = payload[:1], payload[1:]
    try:
        if codec == _ORJSON:
            rows = orjson.loads(body)
        elif codec == _STDLIB:
            rows = json.loads(body)
        else:
            raise JournalDecodeError(f"unknown journal codec {codec!r}")
        if not isinstance(rows, list):
            raise JournalDecodeError("journal entry is not a list of spans")
        for row in rows:
            # A row of another length was written by another version of the collector:
            # read in part, its spans would be stored without what this one cannot name.
            if not isinstance(row, list) or len(row) != _ROW_FIELDS:
                found = len(row) if isinstance(row, list) else type(row).__name__
                raise JournalDecodeError(
                    f"journal span row has {found} fields, this collector reads {_ROW_FIELDS}"
                    " (written by another version?)"
                )
        return [
            SpanRecord(
                trace_id=r[0],
                span_id=r[1],
                parent_span_id=r[2],
                name=r[3],
                kind=r[4],
                start_ns=r[5],
                end_ns=r[6],
                status_code=r[7],
                status_message=r[8],
                attributes=r[9],
                events=r[10],
                links=r[11],
                resource=r[12],
                scope_name=r[13],
                scope_version=r[14],
            )
            for r in rows
        ]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        if isinstance(exc, JournalDecodeError):
            raise
        raise JournalDecodeError(f"journal entry is not a list of spans: {exc}") from None
