"""A burst of finished spans larger than the span queue: none is dropped.

The queue is made tiny (OTEL_BSP_MAX_QUEUE_SIZE) so that runs made at full
speed overflow it at once; the SDK's batch processor would drop the overflow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import instrumentation
from instrumentation import agent_run
from instrumentation.setup import export_stats
from tests.instrumentation.recording import RecordingGrpcServer
from tests.support import wait_until

RUNS, STEPS = 150, 4


def _burst() -> set[str]:
    run_ids = set()
    for index in range(RUNS):
        with agent_run(f"burst {index}") as run:
            run_ids.add(run.id)
            for step in range(STEPS):
                with run.step("tool_call", tool_name=f"tool{step}") as s:
                    s.set_result("ok " * 50)
    return run_ids


def _real_spans(server: RecordingGrpcServer) -> int:
    return len({(s.trace_id, s.span_id) for s in server.spans() if not s.pending})


@pytest.fixture
def tiny_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "16")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8")


@pytest.mark.usefixtures("tiny_queue")
def test_a_full_queue_makes_the_agent_wait_instead_of_dropping(
    grpc_server: RecordingGrpcServer,
) -> None:
    instrumentation.configure(
        endpoint=f"http://127.0.0.1:{grpc_server.port}", protocol="grpc", cancel_poll_s=None
    )
    _burst()
    assert instrumentation.shutdown(timeout_s=30)
    stats = export_stats()
    assert stats.dropped_spans == 0
    assert stats.waited_s > 0  # the queue was full: the agent's thread waited for room
    assert _real_spans(grpc_server) == RUNS * (STEPS + 1)


@pytest.mark.usefixtures("tiny_queue")
def test_a_full_queue_spills_to_the_spool_which_is_replayed(
    grpc_server: RecordingGrpcServer, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    instrumentation.configure(
        endpoint=f"http://127.0.0.1:{grpc_server.port}",
        protocol="grpc",
        cancel_poll_s=None,
        spool_dir=spool_dir,
        spool_retry_s=0.05,
    )
    _burst()
    wait_until(
        lambda: _real_spans(grpc_server) == RUNS * (STEPS + 1),
        timeout_s=60,
        what="every span, direct or replayed from the spool",
    )
    stats = export_stats()
    assert stats.spilled_spans > 0
    assert stats.dropped_spans == 0
    assert instrumentation.shutdown(timeout_s=30)
    wait_until(lambda: not list(spool_dir.glob("*.otlp")), timeout_s=30, what="an empty spool")
