"""Annotations in DuckDB: checked on the way in, listed per run, usable as a run filter."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from collector.annotations import (
    BadAnnotation,
    add_annotation,
    annotation_condition,
    list_annotations,
)
from collector.schema import migrate

NOW = datetime(2026, 1, 1)


def _db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    migrate(con)
    for run_id in ("r1", "r2", "r3"):
        con.execute(
            "INSERT INTO agent_runs (id, status, updated_at) VALUES (?, 'completed', ?)",
            [run_id, NOW],
        )
    return con


def _matching(con: duckdb.DuckDBPyConnection, value: str) -> list[str]:
    condition, params = annotation_condition(value)
    rows = con.execute(f"SELECT r.id FROM agent_runs r WHERE {condition} ORDER BY 1", params)
    return [row[0] for row in rows.fetchall()]


def test_annotations_are_stored_with_who_and_when_and_filter_runs() -> None:
    con = _db()
    first = add_annotation(con, "r1", kind="bad", value=None, author="ana", now=NOW)
    assert (first["kind"], first["author"], first["created_at"]) == (
        "bad",
        "ana",
        "2026-01-01T00:00:00.000000Z",
    )
    later = NOW + timedelta(minutes=5)
    add_annotation(con, "r1", kind="good", value=None, author="bo", now=later)
    add_annotation(con, "r2", kind="bad", value=None, author="ana", now=NOW)
    add_annotation(con, "r2", kind="label", value="flaky-tool", author="ana", now=NOW)
    add_annotation(con, "r3", kind="note", value="retried by hand", author="cy", now=NOW)

    assert [a["kind"] for a in list_annotations(con, ["r1"])] == ["bad", "good"]
    assert _matching(con, "good") == ["r1"]  # the latest verdict counts
    assert _matching(con, "bad") == ["r2"]
    assert _matching(con, "flaky-tool") == ["r2"]
    assert _matching(con, "any") == ["r1", "r2", "r3"]


@pytest.mark.parametrize(
    ("kind", "value", "author", "reason"),
    [
        ("great", None, "ana", "kind must be one of"),
        ("label", "  ", "ana", "needs a value"),
        ("note", "x" * 10_001, "ana", "longer than"),
        ("good", None, " ", "author is required"),
    ],
)
def test_bad_annotations_are_refused_with_a_reason(
    kind: str, value: str | None, author: str, reason: str
) -> None:
    con = _db()
    with pytest.raises(BadAnnotation, match=reason):
        add_annotation(con, "r1", kind=kind, value=value, author=author, now=NOW)
    assert list_annotations(con, ["r1"]) == []


def test_annotating_an_unknown_run_is_refused() -> None:
    with pytest.raises(KeyError):
        add_annotation(_db(), "nope", kind="good", value=None, author="ana", now=NOW)
