"""A run whose id holds ``/``, ``%``, dots or a route's name is read like any other.

Found from outside: an agent sets ``agent_run.id`` itself (``workflow/42``,
``../..``, an id holding HTML). Such a run was listed, but every route that
names a run in its path answered 404: the client quoted the id into one
segment (``a%2Fb``), and the server decoded ``%2F`` into a separator before
routing. The run, its steps, its annotations and its cancel route were out of
reach of the API, the CLI and the dashboard. ``GET .../annotations`` of an
unknown run answered 200 with an empty list where every other route says 404.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from bench.reliability.harness import build_run_request
from collector.client import AuditClient, Conflict, NotFound
from instrumentation import attributes as A
from tests.conftest import CollectorHandle
from tests.support import wait_until

# Ids that collide with the path's own syntax or with a route.
AWKWARD_IDS = [
    "a/b",
    "workflow/42/steps",
    "x/annotations",
    "x/cancel",
    "../..",
    "..",
    ".",
    "//",
    "trailing/",
    "%2F",
    "100%",
    "%",
    "stats",
    "a?b#c&d=e",
    "sp ace",
    "é/ü/中",
    "\u202e/bidi",
    "<script>alert(1)</script>",
]


@pytest.fixture(scope="module")
def client(module_collector: CollectorHandle) -> Iterator[AuditClient]:
    with AuditClient(module_collector.api_url, timeout_s=30) as audit:
        yield audit


def _send_run(handle: CollectorHandle, run_id: str) -> None:
    """A completed run with two tool steps, every span naming ``run_id``."""
    client = int.from_bytes(os.urandom(3), "big") >> 1  # span ids hold 23 bits of it
    request = build_run_request(client, 1, 2)
    for span in request.message.resource_spans[0].scope_spans[0].spans:
        for attribute in span.attributes:
            if attribute.key == A.RUN_ID:
                attribute.value.CopyFrom(AnyValue(string_value=run_id))
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=request.protobuf(),
        headers={"content-type": "application/x-protobuf"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 0, answer.partial_success.error_message


def _stored(client: AuditClient, run_id: str) -> dict[str, Any] | None:
    try:
        run = client.get_run(run_id)
    except NotFound:
        return None
    return run if len(run["steps"]) == 2 else None


def _every_run_route_reads(client: AuditClient, run_id: str) -> None:
    run = wait_until(lambda: _stored(client, run_id), what=f"run {run_id!r} readable")
    assert run is not None and run["id"] == run_id
    page = client.steps_page(run_id)
    assert [step["step_number"] for step in page.steps] == [1, 2]
    assert client.get_steps(run_id) == page.steps
    assert client.annotations(run_id) == []
    stored = client.annotate(run_id, kind="label", author="tester", value="odd id")
    assert stored["run_id"] == run_id
    assert [a["value"] for a in client.annotations(run_id)] == ["odd id"]
    with pytest.raises(Conflict):  # the run has ended: refused for that, not unknown
        client.cancel_run(run_id)


@pytest.mark.parametrize("run_id", AWKWARD_IDS)
def test_a_run_with_an_awkward_id_is_read_by_every_run_route(
    module_collector: CollectorHandle, client: AuditClient, run_id: str
) -> None:
    _send_run(module_collector, run_id)
    _every_run_route_reads(client, run_id)


@settings(
    max_examples=15,
    deadline=None,
    database=None,  # no .hypothesis directory in the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stem=st.text(
        alphabet=st.sampled_from([*"/%.?#&=+;:@ ", *"~!$'()*,", *string.ascii_letters, "é", "中"]),
        min_size=1,
        max_size=24,
    )
)
def test_any_run_id_is_read_by_every_run_route(
    module_collector: CollectorHandle, client: AuditClient, stem: str
) -> None:
    run_id = f"{stem}/{os.urandom(4).hex()}"  # unique per example
    _send_run(module_collector, run_id)
    _every_run_route_reads(client, run_id)


def test_a_quoted_id_never_reaches_another_route(
    module_collector: CollectorHandle, client: AuditClient
) -> None:
    """``q1%2Fsteps`` is the run ``q1/steps``, not the steps of ``q1``; ``%73tats`` is
    the run ``stats``, not the stats route."""
    _send_run(module_collector, "q1")
    wait_until(lambda: _stored(client, "q1"), what="run q1 readable")
    base = module_collector.api_url + "/agent/runs/"
    for quoted, named in [("q1%2Fsteps", "q1/steps"), ("q1%2F..", "q1/.."), ("q1%2F", "q1/")]:
        answer = httpx.get(base + quoted, timeout=30)
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == f"run {named!r} not found"
    assert httpx.get(base + "q1/steps", timeout=30).json()["next_after_step"] is None
    quoted_stats = httpx.get(base + "%73tats", timeout=30)
    assert "total_runs" not in quoted_stats.json(), quoted_stats.text
    assert "total_runs" in httpx.get(base + "stats", timeout=30).json()


def test_the_annotations_of_an_unknown_run_are_a_404(client: AuditClient) -> None:
    with pytest.raises(NotFound) as missing:
        client.annotations("no-such-run/at-all")
    assert missing.value.status_code == 404
    assert "no-such-run/at-all" in missing.value.detail
