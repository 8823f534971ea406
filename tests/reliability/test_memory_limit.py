"""DuckDB out of memory while storing spans: the limit grows, ingest never stalls for good.

The indexes DuckDB keeps within its memory limit grow with the store, so a
limit that suited a small store stops ingest into a large one. These tests
reach that state in seconds with a limit of 16 MB and spans of tens of KB.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import httpx
import pytest

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
            store.write_spans(spans)
        store.await_applied()
        assert store.committed_spans == total
        assert store.memory_limit_mb > _SMALL_MB
        # The writer says what happened and which variable starts it there.
        grown = [r.getMessage() for r in caplog.records if "ran out of memory" in r.getMessage()]
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


def test_healthz_reports_the_limit_the_writer_raised(tmp_path: Path) -> None:
    handle = start_test_collector(
        tmp_path / "health.duckdb", db_memory_mb=_SMALL_MB, db_memory_max_mb=1024
    )
    try:
        health = httpx.get(f"{handle.api_url}/healthz", timeout=10).json()
        assert (health["db_memory_limit_mb"], health["db_memory_max_mb"]) == (_SMALL_MB, 1024)
        for spans in _spans():
            handle.store.write_spans(spans)
        handle.store.await_applied()
        health = httpx.get(f"{handle.api_url}/healthz", timeout=10).json()
        assert _SMALL_MB < health["db_memory_limit_mb"] <= 1024
    finally:
        handle.stop()
