"""Cancel requests reach a running agent through the background poller (real HTTP server)."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.trace import StatusCode

import instrumentation
from instrumentation import RunCancelled, agent_run
from tests.instrumentation.conftest import Spans
from tests.instrumentation.recording import RecordingHttpServer
from tests.support import unreachable_url, wait_until


def test_a_cancel_request_stops_the_run_at_its_next_step(
    http_server: RecordingHttpServer,
) -> None:
    spans = Spans()
    instrumentation.configure(
        tracer_provider=spans.provider, api_url=http_server.url, cancel_poll_s=0.05, token="s3cret"
    )
    with pytest.raises(RunCancelled) as raised, agent_run("long job") as run:
        with run.step("tool_call", tool_name="docker_logs"):
            pass
        other_polls = len(http_server.cancel_polls)
        assert not run.cancel_requested
        http_server.request_cancel(run.id, by="alice", reason="wrong container")
        wait_until(lambda: run.cancel_requested, timeout_s=10, what="cancel flag")
        run.step("tool_call", tool_name="never_runs")
    assert raised.value.run_id == run.id
    assert raised.value.requested_by == "alice"
    assert raised.value.reason == "wrong container"
    run_span = spans.named("invoke_agent")
    assert (run_span.attributes or {})["agent_run.status"] == "cancelled"
    assert run_span.status.status_code is StatusCode.UNSET  # a cancel is not a failure
    assert "execute_tool never_runs" not in spans.names()
    # the poller asked about this run, with the token
    polls = http_server.cancel_polls
    assert len(polls) > other_polls
    assert all(poll["run_id"] == [run.id] for poll in polls)
    assert all(h.get("authorization") == "Bearer s3cret" for h in http_server.cancel_headers)


def test_several_open_runs_are_polled_together_and_only_the_cancelled_one_stops(
    http_server: RecordingHttpServer,
) -> None:
    spans = Spans()
    instrumentation.configure(
        tracer_provider=spans.provider, api_url=http_server.url, cancel_poll_s=0.05
    )
    with agent_run("a") as first, agent_run("b") as second:
        wait_until(
            lambda: any(
                sorted(poll["run_id"]) == sorted([first.id, second.id])
                for poll in http_server.cancel_polls
            ),
            timeout_s=10,
        )
        http_server.request_cancel(second.id, by="bob", reason="")
        wait_until(lambda: second.cancel_requested, timeout_s=10)
        assert not first.cancel_requested
        with first.step("response"):
            pass
    assert spans.named("response") is not None


def test_an_unreachable_api_leaves_the_agent_alone_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spans = Spans()
    caplog.set_level(logging.DEBUG, logger="instrumentation")
    instrumentation.configure(
        tracer_provider=spans.provider,
        api_url=unreachable_url(),
        cancel_poll_s=0.02,
    )
    poller = instrumentation.setup.cancel_poller()
    assert poller is not None
    with agent_run("t") as run:
        wait_until(
            lambda: len([r for r in caplog.records if r.name == "instrumentation.cancel"]) >= 3,
            timeout_s=10,
        )
        with run.step("response"):
            pass
        assert not run.cancel_requested
    warnings = [
        r
        for r in caplog.records
        if r.name == "instrumentation.cancel" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1
    assert (spans.named("invoke_agent").attributes or {})["agent_run.status"] == "completed"
