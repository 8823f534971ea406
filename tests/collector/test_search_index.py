"""The search index on its own: which q it takes, and runs deleted from the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.schema import migrate
from collector.search_index import SearchFilters, SearchIndex, index_words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Disk FULL", ["disk", "full"]),
        ("  oom  ", ["oom"]),
        ("100%", None),
        ("a-b", None),
        ("snake_case", None),
        ("", None),
    ],
)
def test_only_plain_words_go_to_the_index(text: str, words: list[str] | None) -> None:
    assert index_words(text) == words


def _insert_run(con: duckdb.DuckDBPyConnection, run_id: str, task: str) -> None:
    con.execute(
        "INSERT INTO agent_runs (id, task, status, started_at, updated_at) "
        "VALUES (?, ?, 'completed', ?, ?)",
        [run_id, task, datetime(2026, 1, 1, 12), datetime.now()],
    )


def test_runs_deleted_from_the_database_leave_the_index(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "audit.duckdb"))
    migrate(con)
    _insert_run(con, "run-a", "rotate the lemur logs")
    _insert_run(con, "run-b", "lemur backup")

    def read(fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        cursor = con.cursor()
        try:
            return fn(cursor)
        finally:
            cursor.close()

    index = SearchIndex(tmp_path / "audit.duckdb.search", read, interval_s=0.05)
    try:
        assert index.wait_fresh(None, timeout_s=10)
        hits = index.search(["lemur"], SearchFilters(), limit=10)
        assert (sorted(hits.run_ids), hits.total) == (["run-a", "run-b"], 2)
        con.execute("DELETE FROM agent_runs WHERE id = 'run-a'")  # as retention does
        assert index.prune_deleted() == 1
        hits = index.search(["lemur"], SearchFilters(), limit=10)
        assert (hits.run_ids, hits.total) == (["run-b"], 1)
    finally:
        index.close()
        con.close()
