"""Annotations: a person's verdict on a run (good / bad), a label or a note, with who and when.

Stored in the ``annotations`` table (one row each, never updated; a correction is
a new row), so they are visible to ``POST /sql`` and exports. Functions take a
DuckDB cursor (reads) or the writer's connection (``add_annotation``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb

from collector.serialize import json_value

__all__ = [
    "ANNOTATION_KINDS",
    "MAX_VALUE_CHARS",
    "MAX_PER_RUN",
    "RunFullyAnnotated",
    "BadAnnotation",
    "add_annotation",
    "list_annotations",
    "annotation_condition",
]

ANNOTATION_KINDS = ("good", "bad", "label", "note")
MAX_VALUE_CHARS = 10_000
# A run's annotations are listed whole (the run page, the dashboard): without a
# cap, 3,000 notes of 10,000 characters made that list 30 MB. 1,000 of them at
# most is 10 MB.
MAX_PER_RUN = 1_000
_COLUMNS = "id, run_id, kind, value, author, created_at"


class BadAnnotation(ValueError):
    """The annotation is not valid; the message says why."""


class RunFullyAnnotated(ValueError):
    """The run has :data:`MAX_PER_RUN` annotations already; nothing was stored."""


def _check(kind: str, value: str | None, author: str | None) -> tuple[str | None, str]:
    if kind not in ANNOTATION_KINDS:
        raise BadAnnotation(f"kind must be one of {', '.join(ANNOTATION_KINDS)}, got {kind!r}")
    text = (value or "").strip() or None
    if kind in ("label", "note") and text is None:
        raise BadAnnotation(f"a {kind} needs a value")
    if text is not None and len(text) > MAX_VALUE_CHARS:
        raise BadAnnotation(f"value is longer than {MAX_VALUE_CHARS} characters")
    who = (author or "").strip()
    if not who:
        raise BadAnnotation("author is required (who made this annotation)")
    return text, who[:200]


def _rows(
    cursor: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    cursor.execute(sql, list(params))
    names = [d[0] for d in cursor.description or []]
    return [
        {k: json_value(v) for k, v in zip(names, row, strict=True)} for row in cursor.fetchall()
    ]


def add_annotation(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    kind: str,
    value: str | None,
    author: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Store one annotation on an existing run; KeyError when the run is unknown,
    RunFullyAnnotated when it has :data:`MAX_PER_RUN` already."""
    text, who = _check(kind, value, author)
    if con.execute("SELECT 1 FROM agent_runs WHERE id = ?", [run_id]).fetchone() is None:
        raise KeyError(run_id)
    held = con.execute("SELECT count(*) FROM annotations WHERE run_id = ?", [run_id]).fetchone()
    if held is not None and held[0] >= MAX_PER_RUN:
        raise RunFullyAnnotated(
            f"run {run_id!r} has {MAX_PER_RUN} annotations, the most a run takes"
        )
    annotation_id = uuid.uuid4().hex
    con.execute(
        f"INSERT INTO annotations ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        [annotation_id, run_id, kind, text, who, now],
    )
    return _rows(con, f"SELECT {_COLUMNS} FROM annotations WHERE id = ?", [annotation_id])[0]


def list_annotations(
    cursor: duckdb.DuckDBPyConnection, run_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """Annotations of the given runs, oldest first."""
    if not run_ids:
        return []
    return _rows(
        cursor,
        f"SELECT {_COLUMNS} FROM annotations WHERE run_id IN (SELECT unnest(?)) "
        "ORDER BY created_at, id",
        [list(run_ids)],
    )


def annotation_condition(value: str, alias: str = "r") -> tuple[str, list[Any]]:
    """A run filter: ``good`` / ``bad`` (the latest verdict), ``any``, or a label's text."""
    if value in ("good", "bad"):
        # The latest good/bad verdict counts: marking a run good after bad changes it.
        return (
            f"(SELECT a.kind FROM annotations a WHERE a.run_id = {alias}.id "
            "AND a.kind IN ('good', 'bad') ORDER BY a.created_at DESC LIMIT 1) = ?",
            [value],
        )
    if value == "any":
        return f"EXISTS (SELECT 1 FROM annotations a WHERE a.run_id = {alias}.id)", []
    return (
        f"EXISTS (SELECT 1 FROM annotations a WHERE a.run_id = {alias}.id "
        "AND a.kind = 'label' AND a.value = ?)",
        [value],
    )
