"""A real collector process: pyarrow, tantivy, websockets unloaded while idle; memory settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from bench.collector_proc import SpawnedCollector, spawn_collector
from collector.server import open_store
from collector.settings import Settings
from instrumentation import attributes as A
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[SpawnedCollector]:
    spawned = spawn_collector(tmp_path / "audit.duckdb", repo=REPO)
    try:
        yield spawned
    finally:
        spawned.stop()


def _send_run(collector: SpawnedCollector) -> str:
    run_id = uuid.uuid4().hex
    provider = TracerProvider(resource=Resource.create({"service.name": "memory-test"}))
    exporter = OTLPSpanExporter(endpoint=collector.grpc_target, insecure=True, timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("memory-test")
    with tracer.start_as_current_span(
        "invoke_agent memory",
        attributes={
            A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT,
            A.RUN_ID: run_id,
            A.RUN_TASK: "count",
        },
    ):
        pass
    provider.shutdown()
    return run_id


def test_idle_collector_has_not_loaded_pyarrow_and_ingest_loads_it(
    collector: SpawnedCollector,
) -> None:
    api = httpx.Client(base_url=collector.http_url, timeout=10)
    memory = api.get("/healthz").json()["memory"]
    # Started and serving, but nothing needed Arrow yet: neither pyarrow's nor
    # numpy's shared library is mapped into the process.
    maps = _maps(collector.pid)
    assert "libarrow" not in maps and "_multiarray_umath" not in maps
    assert "tantivy" not in maps  # the search index opens when there is a run to index
    # No endpoint is a websocket: uvicorn does not load a websockets implementation.
    assert "websockets" not in maps
    assert memory["arrow_memory_pool"] is None
    assert memory["malloc_arena_max"] == 4  # AGENT_AUDIT_MALLOC_ARENAS' default
    assert memory["malloc_mmap_threshold_kb"] is None  # AGENT_AUDIT_MALLOC_MMAP_KB's default
    assert memory["rss_mb"] > 0

    run_id = _send_run(collector)
    wait_until(lambda: api.get(f"/agent/runs/{run_id}").status_code == 200, timeout_s=30)
    assert api.get(f"/agent/runs/{run_id}").json()["task"] == "count"
    # Ingest builds Arrow tables: the lazy module did load, with the system pool.
    assert "libarrow" in _maps(collector.pid)
    # The search index opens to take the run, and finds it.
    wait_until(lambda: "tantivy" in _maps(collector.pid), timeout_s=30)
    found = api.get("/agent/runs", params={"q": "count"}).json()
    assert [run["id"] for run in found["runs"]] == [run_id]
    assert api.get("/healthz").json()["memory"]["arrow_memory_pool"] == "system"


def test_arena_cap_mmap_threshold_and_arrow_pool_follow_the_environment(tmp_path: Path) -> None:
    spawned = spawn_collector(
        tmp_path / "audit.duckdb",
        repo=REPO,
        env={
            "AGENT_AUDIT_MALLOC_ARENAS": "0",
            "AGENT_AUDIT_MALLOC_MMAP_KB": "128",
            "ARROW_DEFAULT_MEMORY_POOL": "mimalloc",
        },
    )
    try:
        api = httpx.Client(base_url=spawned.http_url, timeout=10)
        memory = api.get("/healthz").json()["memory"]
        assert memory["malloc_arena_max"] is None and memory["malloc_mmap_threshold_kb"] == 128
        run_id = _send_run(spawned)
        wait_until(lambda: api.get(f"/agent/runs/{run_id}").status_code == 200, timeout_s=30)
        assert api.get("/healthz").json()["memory"]["arrow_memory_pool"] == "mimalloc"
    finally:
        spawned.stop()


def test_checkpoint_threshold_and_memory_limit_reach_duckdb(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"AGENT_AUDIT_DB_CHECKPOINT_MB": "32", "AGENT_AUDIT_DB_MEMORY_MB": "96"}
    ).with_overrides(db_path=tmp_path / "audit.duckdb")
    store = open_store(settings)
    try:
        found = store.read(
            lambda cur: cur.execute(
                "SELECT current_setting('checkpoint_threshold'), current_setting('memory_limit')"
            ).fetchone()
        )
    finally:
        store.close()
    # DuckDB reports sizes in its own units: 32 MB is 30.5 MiB, 96 MB 91.5 MiB.
    assert found == ("30.5 MiB", "91.5 MiB")
