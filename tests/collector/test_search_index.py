"""The search index on its own: which q it takes, and runs deleted from the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.annotations import add_annotation
from collector.schema import migrate
from collector.search_documents import FORMAT, build_index
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


def _annotate(con: duckdb.DuckDBPyConnection, run_id: str, kind: str, value: str | None) -> None:
    add_annotation(con, run_id, kind=kind, value=value, author="ana", now=datetime.now())


def _annotated(index: SearchIndex, value: str) -> list[str]:
    return sorted(index.search(None, SearchFilters(annotation=value), limit=10).run_ids)


def test_annotations_added_later_reach_the_runs_documents(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "audit.duckdb"))
    migrate(con)
    for run_id in ("run-a", "run-b", "run-c"):
        _insert_run(con, run_id, "heron count")
    _annotate(con, "run-a", "bad", None)
    index = SearchIndex(tmp_path / "audit.duckdb.search", _reader(con), interval_s=0.05)

    def noted() -> datetime:
        row = con.execute("SELECT max(created_at) FROM annotations").fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    try:
        assert index.wait_fresh(None, timeout_s=10, snapshot_annotated_at=noted())
        assert _annotated(index, "bad") == ["run-a"]
        # Annotations change no run row: the follower reads them on their own watermark.
        _annotate(con, "run-a", "good", None)  # the latest verdict counts
        _annotate(con, "run-b", "label", "wrong-tool")
        _annotate(con, "run-c", "note", "looked at it")
        assert index.wait_fresh(None, timeout_s=10, snapshot_annotated_at=noted())
        assert _annotated(index, "bad") == []
        assert _annotated(index, "good") == ["run-a"]
        assert _annotated(index, "wrong-tool") == ["run-b"]
        assert _annotated(index, "any") == ["run-a", "run-b", "run-c"]
        both = SearchFilters(annotation="wrong-tool", statuses=("failed",))
        assert index.search(["heron"], both, limit=5).total == 0
    finally:
        index.close()
        con.close()


def test_an_index_of_an_older_layout_is_rebuilt_on_start(tmp_path: Path) -> None:
    import tantivy

    con = duckdb.connect(str(tmp_path / "audit.duckdb"))
    migrate(con)
    _insert_run(con, "run-a", "osprey nest")
    _annotate(con, "run-a", "label", "wrong-tool")
    # The layout before annotation terms: no such field, format 2.
    directory = tmp_path / "audit.duckdb.search"
    directory.mkdir()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_integer_field("started_us", fast=True, indexed=True)
    builder.add_text_field("text", index_option="basic")
    old = tantivy.Index(builder.build(), path=str(directory))
    writer = old.writer(heap_size=15_000_000, num_threads=1)
    writer.add_document(tantivy.Document(id="run-a", started_us=1, text="osprey nest"))
    writer.commit()
    (directory / "format").write_text("2")
    (directory / "watermark").write_text(f"{datetime.now().isoformat()} run-a")

    index = SearchIndex(directory, _reader(con), interval_s=0.05)
    try:
        assert (directory / "format").read_text() == FORMAT
        assert index.wait_fresh(None, timeout_s=10)
        assert _annotated(index, "wrong-tool") == ["run-a"]
        assert index.search(["osprey"], SearchFilters(), limit=5).run_ids == ["run-a"]
    finally:
        index.close()
        con.close()


def test_pages_looked_for_in_windows_are_the_newest_of_all(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "audit.duckdb"))
    migrate(con)
    newest = datetime(2026, 3, 1, 12)
    # Spread from minutes to years back: some pages fit the first window, some none.
    ages_min = [0, 3, 9, 14, 16, 40, 119, 121, 500, 959, 961, 5000, 60000, 400000, 900000]
    for age in ages_min:
        con.execute(
            "INSERT INTO agent_runs (id, task, status, started_at, updated_at) "
            "VALUES (?, 'egret survey', 'completed', ?, ?)",
            [f"run-{age:07d}", newest - timedelta(minutes=age), datetime.now()],
        )
    index = SearchIndex(tmp_path / "audit.duckdb.search", _reader(con), interval_s=0.05)
    expected = [f"run-{age:07d}" for age in ages_min]  # newest first
    try:
        assert index.wait_fresh(None, timeout_s=10)
        for limit in (1, 2, 4, 5, 8, 15):
            for offset in (0, 3):
                hits = index.search(
                    ["egret"], SearchFilters(), limit=limit, offset=offset, newest=newest
                )
                assert hits.run_ids == expected[offset : offset + limit], (limit, offset)
                assert hits.total == len(ages_min)
        # A cursor pages back from its own start.
        seen: list[str] = []
        before: tuple[datetime | None, str] | None = None
        while len(seen) < len(expected):
            hits = index.search(["egret"], SearchFilters(), limit=4, before=before, newest=newest)
            assert hits.run_ids, seen
            seen += hits.run_ids
            last = hits.starts_us[-1]
            before = (datetime(1970, 1, 1) + timedelta(microseconds=last), hits.run_ids[-1])
        assert seen == expected
    finally:
        index.close()
        con.close()
