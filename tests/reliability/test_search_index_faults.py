"""The search index (``<db>.search/``) deleted, damaged or on a full disk: a real collector
rebuilds it or catches up, answers ``q`` meanwhile by a scan, and says so in ``/healthz``."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.reliability.harness import CollectorProcess, HttpSender, RunRequest, build_run_request
from collector.search_documents import build_schema
from instrumentation import attributes as A
from tests.reliability.disk_faults import fill_file_system, small_tmpfs
from tests.support import wait_until


def _run(seq: int, word: str) -> RunRequest:
    """A run whose task holds ``word`` (a word no other run has)."""
    request = build_run_request(31, seq, 2)
    for attribute in request.message.resource_spans[0].scope_spans[0].spans[0].attributes:
        if attribute.key == A.RUN_TASK:
            attribute.value.string_value = f"look at {word} please"
    return request


def _index_dir(db: Path) -> Path:
    return db.with_name(db.name + ".search")


def _indexed(db: Path, run_id: str) -> bool:
    """Whether the index on disk holds a document for ``run_id`` (opened by this test)."""
    import tantivy

    try:
        index = tantivy.Index(build_schema(tantivy), path=str(_index_dir(db)))
        searcher = index.searcher()
        query = tantivy.Query.term_query(index.schema, "id", run_id)
        return len(searcher.search(query, 2).hits) == 1
    except (ValueError, OSError):
        return False  # not there (yet), or being rebuilt


def _found(collector: CollectorProcess, word: str) -> list[str]:
    answer = httpx.get(f"{collector.api_url}/agent/runs", params={"q": word}, timeout=30)
    assert answer.status_code == 200, answer.text
    return [run["id"] for run in answer.json()["runs"]]


def _index_health(collector: CollectorProcess) -> dict[str, Any]:
    health = httpx.get(f"{collector.api_url}/healthz", timeout=10).json()
    index: dict[str, Any] = health["search_index"]
    index["status"] = health["status"]
    return index


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[[Path], CollectorProcess]]:
    running: list[CollectorProcess] = []

    def start(db: Path) -> CollectorProcess:
        running.append(CollectorProcess(db, log_dir=tmp_path / "logs").start())
        return running[-1]

    yield start
    for collector in running:
        collector.kill()


def _send(collector: CollectorProcess, request: RunRequest) -> None:
    sender = HttpSender(collector.http_endpoint)
    try:
        assert sender.send(request.protobuf()).acked
    finally:
        sender.close()


def test_an_index_deleted_under_a_running_collector_is_rebuilt(
    tmp_path: Path, started: Callable[[Path], CollectorProcess]
) -> None:
    db = tmp_path / "audit.duckdb"
    collector = started(db)
    before, after = _run(1, "heliotrope"), _run(2, "marigold")
    _send(collector, before)
    wait_until(lambda: _indexed(db, before.run_id), timeout_s=30, what="the first run indexed")

    shutil.rmtree(_index_dir(db))
    _send(collector, after)

    # Found meanwhile (by a scan, or by the new index), and the index built again from
    # the database: both runs, the one indexed before the deletion too.
    assert _found(collector, "marigold") == [after.run_id]
    wait_until(
        lambda: _indexed(db, before.run_id) and _indexed(db, after.run_id),
        timeout_s=30,
        what="the index rebuilt with both runs",
    )
    health = wait_until(
        lambda: (h := _index_health(collector))["state"] == "ok" and h, timeout_s=30
    )
    assert health["rebuilds"] == 1 and health["status"] == "ok", health
    assert _found(collector, "heliotrope") == [before.run_id]
    assert collector.terminate() == 0
    assert "rebuilding it from the database" in collector.stderr_text()


def _garbage_meta(directory: Path) -> None:
    (directory / "meta.json").write_text("{not json")


def _garbage_segments(directory: Path) -> None:
    for path in directory.iterdir():
        if path.suffix in (".term", ".idx", ".store"):
            path.write_bytes(b"\x00damaged" * 8)


def _file_in_its_place(directory: Path) -> None:
    shutil.rmtree(directory)
    directory.write_text("not a directory")


@pytest.mark.parametrize(
    "damage",
    [_garbage_meta, _garbage_segments, _file_in_its_place],
    ids=["meta.json overwritten", "segments overwritten", "a file at its path"],
)
def test_an_index_damaged_while_stopped_is_rebuilt_at_start(
    tmp_path: Path, started: Callable[[Path], CollectorProcess], damage: Callable[[Path], None]
) -> None:
    db = tmp_path / "audit.duckdb"
    collector = started(db)
    first = _run(1, "heliotrope")
    _send(collector, first)
    wait_until(lambda: _indexed(db, first.run_id), timeout_s=30, what="the run indexed")
    assert collector.terminate() == 0

    damage(_index_dir(db))
    collector = started(db)  # before: a file at the path stopped the start (exit 2)
    second = _run(2, "marigold")
    _send(collector, second)

    assert _found(collector, "heliotrope") == [first.run_id]
    assert _found(collector, "marigold") == [second.run_id]
    wait_until(
        lambda: _indexed(db, first.run_id) and _indexed(db, second.run_id),
        timeout_s=30,
        what="the index rebuilt with both runs",
    )
    assert wait_until(lambda: _index_health(collector)["state"] == "ok", timeout_s=30)
    assert collector.terminate() == 0


def test_a_full_disk_under_the_index_degrades_q_and_it_catches_up(
    tmp_path: Path, started: Callable[[Path], CollectorProcess]
) -> None:
    db = tmp_path / "audit.duckdb"
    with small_tmpfs(_index_dir(db), 8) as index_dir:
        collector = started(db)
        first = _run(1, "heliotrope")
        _send(collector, first)
        wait_until(lambda: _indexed(db, first.run_id), timeout_s=30, what="the run indexed")

        filler = fill_file_system(index_dir)
        # Ingest does not depend on the index: these are acknowledged and stored.
        waiting = [_run(seq, f"marigold{seq}") for seq in range(2, 6)]
        for request in waiting:
            _send(collector, request)
        failing = wait_until(
            lambda: (h := _index_health(collector))["state"] == "failing" and h,
            timeout_s=30,
            what="/healthz to report the index failing",
        )
        assert failing["status"] == "degraded"
        # tantivy's words for it vary ("No space left on device", "An index writer was killed").
        assert failing["last_error"] and failing["rebuilds"] == 0, failing
        # q is answered meanwhile (a scan), with the runs the index does not hold.
        assert _found(collector, "marigold3") == [waiting[1].run_id]
        assert not _indexed(db, waiting[1].run_id)

        filler.unlink()
        wait_until(
            lambda: all(_indexed(db, request.run_id) for request in waiting),
            timeout_s=30,
            what="the index to catch up once space is back",
        )
        health = wait_until(
            lambda: (h := _index_health(collector))["state"] == "ok" and h, timeout_s=30
        )
        # Caught up where it was: no rebuild for a full disk.
        assert health["rebuilds"] == 0 and health["status"] == "ok", health
        assert _indexed(db, first.run_id)
        assert collector.terminate() == 0
