"""A span id sent again with other content changes nothing: the first version stays.

Found from outside: re-sending a run's and a step's span ids with another task,
status and tool result (after the first had been committed) rewrote the run and
step rows while ``spans`` kept the first version, so the API showed content no
stored span backs and ``verify`` reported the run as altered. Within one
request, or two requests applied in one transaction, the LAST version won
instead: which one was kept depended on timing.
"""

from __future__ import annotations

import os
import time

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bench.reliability.otlp_requests import kv
from instrumentation import attributes as A
from tests.conftest import CollectorHandle


class RunIds:
    """The ids of one run span and one tool step under it."""

    def __init__(self) -> None:
        self.trace = os.urandom(16)
        self.run_span = os.urandom(8)
        self.step_span = os.urandom(8)
        self.run_id = f"reuse-{self.trace.hex()[:12]}"


def _spans(ids: RunIds, version: str, failed: bool) -> list[Span]:
    start = time.time_ns()
    run = Span(
        trace_id=ids.trace,
        span_id=ids.run_span,
        name="invoke_agent ops",
        start_time_unix_nano=start,
        end_time_unix_nano=start + 5_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_OK),
    )
    run.attributes.extend(
        [
            kv(A.GEN_AI_OPERATION_NAME, "invoke_agent"),
            kv(A.RUN_ID, ids.run_id),
            kv(A.RUN_TASK, f"{version} task"),
        ]
    )
    step = Span(
        trace_id=ids.trace,
        span_id=ids.step_span,
        parent_span_id=ids.run_span,
        name="execute_tool docker_ps",
        start_time_unix_nano=start + 1_000,
        end_time_unix_nano=start + 2_000_000,
    )
    step.attributes.extend(
        [
            kv(A.GEN_AI_OPERATION_NAME, "execute_tool"),
            kv(A.GEN_AI_TOOL_NAME, "docker_ps"),
            kv(A.GEN_AI_TOOL_CALL_RESULT, f"{version} result"),
        ]
    )
    return [run, step]


def _request(spans: list[Span]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    return request


def _post(handle: CollectorHandle, spans: list[Span]) -> None:
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=_request(spans).SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def _run(handle: CollectorHandle, ids: RunIds) -> tuple[str, str, list[str]]:
    """(task, status, tool results) as the API serves the run."""
    response = httpx.get(f"{handle.api_url}/agent/runs/{ids.run_id}", timeout=30)
    assert response.status_code == 200, response.text
    run = response.json()
    return run["task"], run["status"], [step["tool_result"] for step in run["steps"]]


def _stored_task(handle: CollectorHandle, ids: RunIds) -> str:
    response = httpx.get(
        f"{handle.api_url}/spans/{ids.trace.hex()}/{ids.run_span.hex()}", timeout=30
    )
    assert response.status_code == 200, response.text
    return str(response.json()["attributes"][A.RUN_TASK])


def _verify(handle: CollectorHandle) -> dict[str, object]:
    answer: dict[str, object] = httpx.get(f"{handle.api_url}/verify", timeout=60).json()
    return answer


ORIGINAL = ("original task", "completed", ["original result"])


def _conflict_retries(handle: CollectorHandle) -> int:
    health = httpx.get(f"{handle.api_url}/healthz", timeout=30).json()
    return int(health["conflict_retries"])


def test_a_later_request_reusing_the_ids_changes_no_run_or_step(collector: CollectorHandle) -> None:
    ids = RunIds()
    retries = _conflict_retries(collector)
    _post(collector, _spans(ids, "original", failed=False))
    assert _run(collector, ids) == ORIGINAL  # committed before the second request
    assert _conflict_retries(collector) == retries  # new spans: inserted without the check
    _post(collector, _spans(ids, "forged", failed=True))
    assert _run(collector, ids) == ORIGINAL
    # The insert without the conflict check failed, and the commit was tried again with it.
    assert _conflict_retries(collector) == retries + 1
    assert _stored_task(collector, ids) == "original task"
    assert _verify(collector)["ok"] is True


def test_within_one_request_the_first_version_is_kept(collector: CollectorHandle) -> None:
    ids = RunIds()
    _post(collector, _spans(ids, "original", failed=False) + _spans(ids, "forged", failed=True))
    assert _run(collector, ids) == ORIGINAL
    assert _stored_task(collector, ids) == "original task"
    assert _verify(collector)["ok"] is True


def test_back_to_back_requests_keep_the_first_whatever_the_commit_grouping(
    collector: CollectorHandle,
) -> None:
    # Acknowledged from the journal, both may be applied in one transaction or two.
    runs = [RunIds() for _ in range(20)]
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        export = TraceServiceStub(channel).Export
        for ids in runs:
            export(_request(_spans(ids, "original", failed=False)), timeout=30)
            export(_request(_spans(ids, "forged", failed=True)), timeout=30)
    for ids in runs:
        assert _run(collector, ids) == ORIGINAL
        assert _stored_task(collector, ids) == "original task"
    assert _verify(collector)["ok"] is True
