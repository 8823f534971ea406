"""What the search index follower reads each pass: runs and annotations changed since.

Two watermarks: ``(updated_at, id)`` of the last run indexed (the writer bumps
``agent_runs.updated_at`` whenever a run or one of its steps changes) and
``(created_at, id)`` of the last annotation seen (annotations are only ever
added). A run that was annotated is indexed again, so its ``annotation`` terms
(collector/search_documents.py) follow the annotations; everything is read in
one read-only snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from collector.search_documents import EPOCH, RUN_FIELDS, STEP_TEXT, annotation_terms

__all__ = ["Mark", "Changes", "read_changes", "NO_MARK"]

Mark = tuple[datetime, str]
NO_MARK: Mark = (EPOCH, "")
StepText = dict[str, tuple[str | None, bool | None]]

_CHANGED_RUNS = f"""
    SELECT {RUN_FIELDS}
    FROM agent_runs WHERE updated_at > ? OR (updated_at = ? AND id > ?)
    ORDER BY updated_at, id LIMIT ?
"""
_NEW_ANNOTATIONS = """
    SELECT run_id, created_at, id FROM annotations
    WHERE created_at > ? OR (created_at = ? AND id > ?)
    ORDER BY created_at, id LIMIT ?
"""
# An annotated run may be old: its row and steps by id (the indexes), not by time.
_RUNS_BY_ID = "SELECT {fields} FROM agent_runs WHERE id IN ({marks})"
_STEP_TEXT_BY_ID = """
    SELECT agent_run_id,
           string_agg(concat_ws(' ', tool_args, tool_result, thinking, error), ' '),
           bool_or(status = 'error')
    FROM agent_steps WHERE agent_run_id IN ({marks})
    GROUP BY agent_run_id
"""


@dataclass
class Changes:
    """Runs to (re)index with their step text and annotation terms, and the new watermarks."""

    rows: list[tuple[Any, ...]]  # RUN_FIELDS rows
    steps: StepText
    annotations: dict[str, list[str]]
    runs_mark: Mark
    annotations_mark: Mark
    full: bool = False  # a batch was full: more is waiting


def read_changes(
    cursor: duckdb.DuckDBPyConnection, runs_mark: Mark, annotations_mark: Mark, batch: int
) -> Changes:
    """Up to ``batch`` changed runs and ``batch`` new annotations since the watermarks."""
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    try:
        moment, last_id = runs_mark
        rows = cursor.execute(_CHANGED_RUNS, [moment, moment, last_id, batch]).fetchall()
        changed = len(rows)
        steps = _step_text(cursor, rows)
        new_runs_mark = (rows[-1][10], rows[-1][0]) if rows else runs_mark
        moment, last_id = annotations_mark
        noted = cursor.execute(_NEW_ANNOTATIONS, [moment, moment, last_id, batch]).fetchall()
        new_annotations_mark = (noted[-1][1], noted[-1][2]) if noted else annotations_mark
        have = {row[0] for row in rows}
        annotated = sorted({str(run_id) for run_id, _, _ in noted} - have)
        if annotated:
            marks = ", ".join("?" * len(annotated))
            extra = cursor.execute(
                _RUNS_BY_ID.format(fields=RUN_FIELDS, marks=marks), annotated
            ).fetchall()
            rows += extra
            steps.update(
                {
                    run_id: (text, failed)
                    for run_id, text, failed in cursor.execute(
                        _STEP_TEXT_BY_ID.format(marks=marks), annotated
                    ).fetchall()
                }
            )
        terms = annotation_terms(cursor, [row[0] for row in rows])
        return Changes(
            rows=rows,
            steps=steps,
            annotations=terms,
            runs_mark=new_runs_mark,
            annotations_mark=new_annotations_mark,
            full=changed >= batch or len(noted) >= batch,
        )
    finally:
        cursor.execute("ROLLBACK")


def _step_text(cursor: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> StepText:
    if not rows:
        return {}
    ids = [row[0] for row in rows]
    starts = [row[1] for row in rows]
    # A run without a start time: no bound (its steps may start whenever).
    earliest = EPOCH + timedelta(microseconds=min(starts)) if None not in starts else EPOCH
    return {
        run_id: (text, failed)
        for run_id, text, failed in cursor.execute(STEP_TEXT, [ids, earliest]).fetchall()
    }
