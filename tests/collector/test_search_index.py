"""The search index on its own: which q it takes, and runs deleted from the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.schema import migrate
from collector.search_documents import build_index
from collector.search_index import SearchFilters, SearchIndex, index_words, text_query


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


def _reader(con: duckdb.DuckDBPyConnection) -> Callable[[Callable[[Any], Any]], Any]:
    def read(fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        cursor = con.cursor()
        try:
            return fn(cursor)
        finally:
            cursor.close()

    return read


def test_trigrams_give_candidates_for_a_q_that_is_not_words(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "audit.duckdb"))
    migrate(con)
    _insert_run(con, "run-a", "freed BYTES=1234567")
    _insert_run(con, "run-b", "bytes=12 and 3456 and s=1 and 123456")  # every trigram, not q
    _insert_run(con, "run-c", "bytes=99")
    index = SearchIndex(tmp_path / "audit.duckdb.search", _reader(con), interval_s=0.05)
    try:
        assert index.wait_fresh(None, timeout_s=10)
        query = text_query("bytes=123456")
        assert query is not None and not query.exact
        assert sorted(index.matching_ids(query) or []) == ["run-a", "run-b"]
        assert index.matching_ids(query, at_most=1) is None  # too many: the caller scans
        assert text_query("a%") is None  # under 3 characters: no trigram
        assert sorted(index.matching_ids(text_query("run-") or query) or []) == [
            "run-a",
            "run-b",
            "run-c",
        ]
    finally:
        index.close()
        con.close()


def test_a_bulk_built_index_is_followed_from_its_watermark(tmp_path: Path) -> None:
    db = tmp_path / "audit.duckdb"
    con = duckdb.connect(str(db))
    migrate(con)
    _insert_run(con, "run-a", "walrus census")
    con.execute(
        "INSERT INTO agent_steps (id, agent_run_id, action_type, tool_result, trace_id, span_id, "
        "status, started_at) VALUES ('s1', 'run-a', 'tool_call', 'narwhal spotted', 't', 's1', "
        "'error', ?)",
        [datetime(2026, 1, 1, 12, 1)],
    )
    directory = tmp_path / "audit.duckdb.search"
    indexed, _, last_id = build_index(con.cursor(), directory)
    assert (indexed, last_id) == (1, "run-a")
    _insert_run(con, "run-b", "walrus again")
    index = SearchIndex(directory, _reader(con), interval_s=0.05)
    try:
        assert index.wait_fresh(None, timeout_s=10)
        assert index.search(["narwhal"], SearchFilters(), limit=5).run_ids == ["run-a"]
        walrus = index.search(["walrus"], SearchFilters(), limit=5)
        assert (sorted(walrus.run_ids), walrus.total) == (["run-a", "run-b"], 2)
        failing = index.search(["walrus"], SearchFilters(has_error=True), limit=5)
        assert failing.run_ids == ["run-a"]  # its step failed
    finally:
        index.close()
        con.close()
