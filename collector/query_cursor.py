"""The keyset cursor of the run list: the position after the last run of a page."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector.query_filters import BadRequest

__all__ = ["Cursor", "encode_cursor", "decode_cursor", "after_cursor"]

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Cursor:
    """Position after the last run of a page: (started_at, id); started_at may be NULL."""

    started_at: datetime | None
    run_id: str


def encode_cursor(started_at: datetime | None, run_id: str) -> str:
    """Opaque text for the next page (base64url of ``[micros_or_null, id]``)."""
    micros = None
    if started_at is not None:
        micros = (started_at - _EPOCH) // timedelta(microseconds=1)
    raw = json.dumps([micros, run_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The position a cursor from :func:`encode_cursor` stands for; BadRequest otherwise."""
    try:
        padded = text + "=" * (-len(text) % 4)
        micros, run_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(run_id, str) or not (micros is None or isinstance(micros, int)):
            raise ValueError("wrong types")
        started = None if micros is None else _EPOCH + timedelta(microseconds=micros)
    except (ValueError, TypeError, binascii.Error, UnicodeError, OverflowError, RecursionError):
        raise BadRequest("cursor is not valid; use the 'next' value of a previous page") from None
    return Cursor(started, run_id)


def after_cursor(cursor: Cursor, alias: str = "r") -> tuple[str, list[Any]]:
    # Order is started_at DESC NULLS LAST, id DESC: the next page holds what sorts after.
    a = alias
    if cursor.started_at is None:
        return f"({a}.started_at IS NULL AND {a}.id < ?)", [cursor.run_id]
    return (
        f"({a}.started_at < ? OR ({a}.started_at = ? AND {a}.id < ?) OR {a}.started_at IS NULL)",
        [cursor.started_at, cursor.started_at, cursor.run_id],
    )
