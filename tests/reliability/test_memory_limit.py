"""DuckDB out of memory while storing spans or reading: the limit grows, nothing stalls for good.

The indexes DuckDB keeps within its memory limit grow with the store, so a
limit that suited a small store stops ingest into a large one, and the API's
lookups by index (a page's costs, by ``agent_steps_run_id``) in it. These
tests reach that state in seconds with a limit of 16-24 MB and spans of tens
of KB, or a store of 20,000 runs.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from bench.dataset import build_via_sql
from bench.workload import WorkloadSpec, generate_requests
from collector.decode import SpanRecord, decode_protobuf
from collector.store import RunStore
from collector.store_errors import Overloaded
from tests.conftest import start_test_collector
from tests.support import wait_until

_SMALL_MB = 16


def _spans() -> list[list[SpanRecord]]:
    spec = WorkloadSpec(runs=300, result_bytes=(20_000, 40_000), runs_per_request=25)
    return [decode_protobuf(request.body).spans for request in generate_requests(spec)]


def _write_when_room(store: RunStore, spans: list[SpanRecord], timeout_s: float = 120.0) -> None:
    """Write ``spans`` as an exporter would: told Overloaded (the writer is behind, as on a
    busy machine), wait for what is queued to be applied, then send them again."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            store.write_spans(spans)
            return
        except Overloaded:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            store.await_applied(timeout_s=left)


def _stored_spans(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM spans").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def test_the_writer_raises_the_memory_limit_instead_of_stalling(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requests = _spans()
    total = sum(len(spans) for spans in requests)
    db = tmp_path / "grow.duckdb"
    caplog.set_level(logging.WARNING, logger="collector.store_writer")
    store = RunStore(
        db, memory_limit_mb=_SMALL_MB, memory_ceiling_mb=1024, startup_read_check=False
    )
    try:
        for spans in requests:
            _write_when_room(store, spans)
        store.await_applied()
        assert store.committed_spans == total
        assert store.memory_limit_mb > _SMALL_MB
        # The writer says what happened and which variable starts it there.
        grown = [r.getMessage() for r in caplog.records if "its limit is now" in r.getMessage()]
        assert grown and "AGENT_AUDIT_DB_MEMORY_MB" in grown[0]
    finally:
        store.close()
    assert _stored_spans(db) == total


def test_at_the_ceiling_acknowledged_spans_wait_in_the_journal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "ceiling.duckdb"
    caplog.set_level(logging.WARNING, logger="collector.store_writer")
    store = RunStore(
        db, memory_limit_mb=_SMALL_MB, memory_ceiling_mb=_SMALL_MB, startup_read_check=False
    )
    acknowledged = 0
    try:
        for spans in _spans():
            try:
                store.write_spans(spans)  # returns once synced to the journal
            except Overloaded:
                break  # the writer is stuck: senders are told to retry later
            acknowledged += len(spans)
        wait_until(
            lambda: any("at its ceiling" in r.getMessage() for r in caplog.records),
            timeout_s=60,
            what="the writer reports the ceiling",
        )
        assert store.memory_limit_mb == _SMALL_MB
        assert acknowledged > 0 and store.committed_spans < acknowledged
    finally:
        store.close()
    # The next start, with room, applies what the journal kept: nothing acknowledged is lost.
    store = RunStore(db, memory_limit_mb=1024, startup_read_check=False)
    store.close()
    assert _stored_spans(db) == acknowledged


def test_rows_past_the_limit_do_not_raise_it(tmp_path: Path) -> None:
    # Rows not yet checkpointed are DuckDB's to write to its temporary file when
    # it needs room: counted as memory the next commit needs, they doubled the
    # limit again and again under a steady ingest (the collector grew with it).
    db = tmp_path / "steady.duckdb"
    spec = WorkloadSpec(runs=4000, runs_per_request=50, seed=5)
    requests = [decode_protobuf(request.body).spans for request in generate_requests(spec)]
    total = sum(len(spans) for spans in requests)
    limit = 64
    store = RunStore(
        db,
        memory_limit_mb=limit,
        memory_ceiling_mb=1024,
        checkpoint_mb=4096,
        startup_read_check=False,
    )
    try:
        for spans in requests:
            _write_when_room(store, spans)
        store.await_applied()
        assert store.committed_spans == total
        # More rows than the limit holds: DuckDB wrote some to its temporary file.
        spilled = store.read(
            lambda cur: cur.execute(
                "SELECT sum(temporary_storage_bytes) FROM duckdb_memory()"
            ).fetchone()
        )
        assert spilled and spilled[0] > 0
        assert store.memory_limit_mb == limit
        assert store.memory_used_mb <= limit
    finally:
        store.close()
    assert _stored_spans(db) == total


def test_healthz_reports_the_limit_the_writer_raised(tmp_path: Path) -> None:
    handle = start_test_collector(
        tmp_path / "health.duckdb", db_memory_mb=_SMALL_MB, db_memory_max_mb=1024
    )
    try:
        health = httpx.get(f"{handle.api_url}/healthz", timeout=10).json()
        assert (health["db_memory_limit_mb"], health["db_memory_max_mb"]) == (_SMALL_MB, 1024)
        used_at_start = health["db_memory_used_mb"]
        for spans in _spans():
            _write_when_room(handle.store, spans)
        handle.store.await_applied()
        health = httpx.get(f"{handle.api_url}/healthz", timeout=10).json()
        assert _SMALL_MB < health["db_memory_limit_mb"] <= 1024
        # What DuckDB held at the last commit: the rows and indexes just written.
        assert used_at_start < health["db_memory_used_mb"] <= health["db_memory_limit_mb"]
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def store_of_20k_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 runs, 150k steps: their run-id index outgrows 24 MB once a page is looked up."""
    db = tmp_path_factory.mktemp("big") / "20k.duckdb"
    build_via_sql(db, runs=20_000, progress=False, spans=False)
    return db


def _copy(store: Path, tmp_path: Path) -> Path:
    db = tmp_path / store.name
    shutil.copyfile(store, db)
    return db


_PAGES = [
    {"limit": 50},
    {"limit": 50, "status": "failed"},
    {"limit": 50, "source": "n8n"},
    {"limit": 50, "agent_name": "triage-agent"},
]


def test_a_read_out_of_memory_raises_the_limit_and_answers(
    store_of_20k_runs: Path, tmp_path: Path
) -> None:
    handle = start_test_collector(
        _copy(store_of_20k_runs, tmp_path),
        db_memory_mb=24,
        db_memory_max_mb=1024,
        search_index=False,
    )
    try:
        api = httpx.Client(base_url=handle.api_url, timeout=60)
        for params in _PAGES:
            response = api.get("/agent/runs", params=params)
            assert response.status_code == 200, response.text
            runs = response.json()["runs"]
            assert runs and all("cost_usd" in run for run in runs)
        assert 24 < api.get("/healthz").json()["db_memory_limit_mb"] <= 1024
    finally:
        handle.stop()


def test_a_read_out_of_memory_at_the_ceiling_is_a_503_and_the_collector_goes_on(
    store_of_20k_runs: Path, tmp_path: Path
) -> None:
    handle = start_test_collector(
        _copy(store_of_20k_runs, tmp_path),
        db_memory_mb=24,
        db_memory_max_mb=24,
        search_index=False,
    )
    try:
        api = httpx.Client(base_url=handle.api_url, timeout=60)
        answers = [api.get("/agent/runs", params=params) for params in _PAGES]
        refused = [a for a in answers if a.status_code != 200]
        assert refused, "a limit of 24 MB should not hold the run-id index of 150k steps"
        for answer in refused:
            assert answer.status_code == 503, answer.text
            assert "AGENT_AUDIT_DB_MEMORY_MAX_MB" in answer.json()["detail"]
            assert answer.headers["Retry-After"]
        # Still serving: health, and what is stored is untouched.
        assert api.get("/healthz").json()["db_memory_limit_mb"] == 24
    finally:
        handle.stop()
    assert _stored_runs(handle.db_path) == 20_000


def _stored_runs(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM agent_runs").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


@pytest.fixture(scope="module")
def store_of_20k_runs_with_spans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 runs with their 170k spans: primary-key indexes past a 24 MB limit."""
    db = tmp_path_factory.mktemp("big-spans") / "20k-spans.duckdb"
    build_via_sql(db, runs=20_000, progress=False, spans=True)
    return db


def test_a_big_store_with_a_small_limit_stores_every_span_exactly_once(
    store_of_20k_runs_with_spans: Path, tmp_path: Path
) -> None:
    # Each commit here loads more of the indexes than the limit leaves free. A COMMIT
    # that ran out of memory left its index entries half merged: later inserts of
    # those ids were refused as duplicates and the spans set aside as rejected.
    db = _copy(store_of_20k_runs_with_spans, tmp_path)
    spec = WorkloadSpec(runs=200, runs_per_request=5, seed=11)
    requests = [decode_protobuf(request.body).spans for request in generate_requests(spec)]
    step_ids = [s.span_id for spans in requests for s in spans if s.parent_span_id]
    store = RunStore(db, memory_limit_mb=24, memory_ceiling_mb=1024, startup_read_check=False)
    try:
        for spans in requests:
            store.write_spans(spans)
        store.await_applied()
        assert store.committed_spans == sum(len(spans) for spans in requests)
        assert store.conflict_retries == 0
        assert store.memory_limit_mb > 24
    finally:
        store.close()
    assert not list(db.with_name(db.name + ".journal").glob("rejected-*"))
    con = duckdb.connect(str(db), read_only=True)
    try:
        # The primary-key index finds each new step, and nothing for an id never stored.
        for step_id in step_ids[::7]:
            found = con.execute("SELECT id FROM agent_steps WHERE id = ?", [step_id]).fetchall()
            assert found == [(step_id,)]
        assert (
            con.execute("SELECT id FROM agent_steps WHERE id = '0000000000000000'").fetchall() == []
        )
    finally:
        con.close()
