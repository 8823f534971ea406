"""Overload: far more than the queue holds; only retryable answers; nothing lost; memory bounded."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import duckdb

from bench.reliability.flood import flood
from bench.reliability.harness import (
    CollectorProcess,
    GrpcSender,
    RunRequest,
    build_run_request,
)
from tests.conftest import start_test_collector

KINDS = ("grpc", "http-protobuf", "http-json")
logger = logging.getLogger(__name__)


def _work(
    senders: int, requests_each: int, steps: int, payload_bytes: int = 0, first_client: int = 100
) -> dict[str, list[RunRequest]]:
    """Requests per sender; client numbers from ``first_client`` keep ids apart."""
    return {
        f"{KINDS[n % 3]}#{n}": [
            build_run_request(first_client + n, seq, steps, payload_bytes=payload_bytes)
            for seq in range(requests_each)
        ]
        for n in range(senders)
    }


def test_flood_gets_only_retryable_answers_and_everything_is_stored(tmp_path: Path) -> None:
    # A queue of 40 spans and 16 senders of 20-span requests: most attempts must be refused.
    handle = start_test_collector(tmp_path / "flood.duckdb", max_queued_spans=40)
    try:
        work = _work(senders=16, requests_each=5, steps=19)
        result = flood(
            f"127.0.0.1:{handle.grpc_port}", handle.http_endpoint, work, seed=5, deadline_s=120
        )
        stored = Counter(handle.query("SELECT trace_id FROM spans"))
        runs = dict(handle.query("SELECT id, total_steps FROM agent_runs"))
    finally:
        handle.stop()
    assert result.bad_answers == []
    assert result.unacked == []
    assert result.outcomes["retryable"] > 0, "the flood never passed the queue bound"
    # Hints are whole seconds for HTTP (Retry-After) and a positive delay for gRPC.
    assert all(hint > 0 for hint in result.retry_hints_s), result.retry_hints_s
    expected = {r.trace_id: len(r.span_keys) for rs in work.values() for r in rs}
    assert {trace: n for (trace,), n in stored.items()} == expected
    assert runs == {r.run_id: 19 for rs in work.values() for r in rs}


def test_a_request_bigger_than_the_queue_is_accepted_when_the_queue_is_empty(
    tmp_path: Path,
) -> None:
    # 25 spans against a bound of 10: refusing it forever would make the exporter
    # retry forever and the spans would never be stored.
    handle = start_test_collector(tmp_path / "big.duckdb", max_queued_spans=10)
    sender = GrpcSender(f"127.0.0.1:{handle.grpc_port}")
    try:
        request = build_run_request(1, 1, 24)
        outcomes = [sender.send(request.protobuf()) for _ in range(5)]
        stored = handle.query("SELECT count(*) FROM spans")[0][0]
    finally:
        sender.close()
        handle.stop()
    assert any(o.acked for o in outcomes), [o.detail for o in outcomes]
    assert stored == 25


# Memory: the collector must hold at most (concurrent requests x request size) plus
# its queue, whatever the flood's length; so its peak RSS must stay under a bound
# derived from the configuration, and must not keep climbing as the flood goes on.
MAX_REQUEST_BYTES = 1024 * 1024
SENDERS = 16
# Per concurrent request the collector may hold the body, the parsed protobuf, the
# decoded records and the redacted copy: budget 8x the request size each.
PER_REQUEST_FACTOR = 8
DUCKDB_AND_ARROW_MIB = 150  # buffer pool, Arrow tables of one group commit
MEMORY_BOUND_MIB_OVER_IDLE = (
    SENDERS * PER_REQUEST_FACTOR * MAX_REQUEST_BYTES // (1024 * 1024) + DUCKDB_AND_ARROW_MIB
)


def test_flood_of_a_subprocess_stays_under_the_memory_bound(tmp_path: Path) -> None:
    db = tmp_path / "mem.duckdb"
    collector = CollectorProcess(
        db,
        log_dir=tmp_path / "logs",
        env={
            "AGENT_AUDIT_MAX_QUEUED_SPANS": "100",
            "AGENT_AUDIT_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
        },
    ).start()
    try:
        # Warm up (first requests import and allocate lazily), then take the idle figure.
        warm = flood(
            collector.grpc_target,
            collector.http_endpoint,
            _work(3, 2, 5, first_client=900),
            seed=1,
            deadline_s=60,
        )
        assert warm.unacked == []
        idle_kib = collector.vm_rss_kib()
        # 40-span runs with 12 KB results: ~500 KB per request, under the 1 MiB limit;
        # the queue holds two of them, so most attempts are refused.
        work = _work(senders=SENDERS, requests_each=1, steps=39, payload_bytes=12_000)
        result = flood(collector.grpc_target, collector.http_endpoint, work, seed=2, deadline_s=180)
        peak_kib = collector.vm_hwm_kib()
        assert collector.terminate() == 0
    finally:
        collector.kill()
    assert result.bad_answers == []
    assert result.unacked == []
    assert result.outcomes["retryable"] > 0, "the flood never passed the queue bound"
    over_idle_mib = (peak_kib - idle_kib) / 1024
    logger.info(
        "flood of %d senders: answers %s; RSS idle %d MiB, peak %d MiB (%.0f over idle, bound %d)",
        SENDERS,
        dict(result.outcomes),
        idle_kib // 1024,
        peak_kib // 1024,
        over_idle_mib,
        MEMORY_BOUND_MIB_OVER_IDLE,
    )
    assert over_idle_mib < MEMORY_BOUND_MIB_OVER_IDLE, (
        f"peak {peak_kib // 1024} MiB, idle {idle_kib // 1024} MiB, "
        f"bound {MEMORY_BOUND_MIB_OVER_IDLE} MiB over idle"
    )
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM spans").fetchone()
    assert stored is not None
    assert stored[0] == result.acked_spans + warm.acked_spans


_UNITS = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "TiB": 1024 * 1024, "KB": 1 / 1000, "MB": 1}


def test_duckdb_memory_is_capped_by_default(tmp_path: Path) -> None:
    # DuckDB's own default is 80% of the machine's RAM: on a home server the collector
    # would be allowed gigabytes (the 10-minute overload soak peaked at 1,120 MiB RSS).
    # (Read through the store: /sql no longer shows settings, and its own worker has
    # its own limit, AGENT_AUDIT_SQL_MEMORY_MB.)
    handle = start_test_collector(tmp_path / "cap.duckdb")
    try:
        ((setting,),) = handle.query("SELECT current_setting('memory_limit')")
    finally:
        handle.stop()
    value, unit = str(setting).split()
    limit_mib = float(value) * _UNITS[unit]
    assert limit_mib <= 1024, f"DuckDB may use {value} {unit}"
