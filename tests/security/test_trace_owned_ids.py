"""A span of one trace cannot change the runs and steps of another, whatever ids it reuses.

Found from outside: runs and steps were upserted by id alone, and their ids are
what spans say (``agent_run.id``, or the span id, unique only within a trace).
A request in a new trace naming a finished run's ``agent_run.id`` replaced that
run's task, answer and trace and added its own steps to it (``verify`` still
said ok); a span re-using a step's span id replaced the step's tool and result;
a run span re-using a foreign run's span id replaced that run. Two senders whose
span ids collide overwrote each other. Now the first trace to use an id owns it
and the others' rows get ``<id>@<their trace id>`` (collector/trace_owned_ids.py):
every span is kept and shown, as its own run or step.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.trace import Tracer

from collector.trace_owned_ids import trace_scoped_id
from instrumentation import attributes as A
from tests.collector.ingest.otlp import record_spans, to_otlp_json, to_request
from tests.conftest import CollectorHandle
from tests.support import wait_until

OUR_RUN = str(uuid.uuid4())
FORGED = "FORGED by another trace"


def _tool(tracer: Tracer, name: str, result: str, run_id: str | None) -> None:
    with tracer.start_as_current_span(f"execute_tool {name}") as step:
        step.set_attribute(A.GEN_AI_OPERATION_NAME, "execute_tool")
        step.set_attribute(A.GEN_AI_TOOL_NAME, name)
        step.set_attribute(A.GEN_AI_TOOL_CALL_RESULT, result)
        if run_id is not None:
            step.set_attribute(A.RUN_ID, run_id)


def _run(
    tracer: Tracer,
    *,
    task: str,
    run_id: str | None,
    tools: list[tuple[str, str]],
    think: bool = False,
) -> None:
    with tracer.start_as_current_span("invoke_agent ops") as run:
        run.set_attribute(A.GEN_AI_OPERATION_NAME, "invoke_agent")
        run.set_attribute(A.GEN_AI_AGENT_NAME, "ops")
        run.set_attribute(A.RUN_TASK, task)
        run.set_attribute(A.RUN_FINAL_ANSWER, f"answer of {task}")
        if run_id is not None:
            run.set_attribute(A.RUN_ID, run_id)
        for name, result in tools:
            _tool(tracer, name, result, run_id)
        if think:
            _chat(tracer, run_id)


def _chat(tracer: Tracer, run_id: str | None) -> None:
    with tracer.start_as_current_span("chat qwen") as call:
        call.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
        call.set_attribute(A.GEN_AI_REQUEST_MODEL, "qwen")
        if run_id is not None:
            call.set_attribute(A.RUN_ID, run_id)


def send(handle: CollectorHandle, protocol: str, request: ExportTraceServiceRequest) -> None:
    """Send one request; assert it was accepted whole."""
    if protocol == "grpc":
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            answer = TraceServiceStub(channel).Export(request, timeout=10)
        assert answer.partial_success.rejected_spans == 0, answer
        return
    if protocol == "http-protobuf":
        body, kind = request.SerializeToString(), "application/x-protobuf"
    else:
        body, kind = json.dumps(to_otlp_json(request)).encode(), "application/json"
    response = httpx.post(
        f"{handle.http_endpoint}/v1/traces",
        content=body,
        headers={"content-type": kind},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def page(handle: CollectorHandle, run_id: str) -> dict[str, Any] | None:
    response = httpx.get(f"{handle.api_url}/agent/runs/{run_id}", timeout=30)
    return response.json() if response.status_code == 200 else None


def what_a_reader_sees(run: dict[str, Any]) -> dict[str, Any]:
    """The run page less the fields that move with the clock."""
    return {
        "run": {
            k: run[k]
            for k in ("task", "final_answer", "status", "trace_id", "span_id", "total_steps")
        },
        "steps": [
            (s["id"], s["action_type"], s["tool_name"], s["tool_result"], s["trace_id"])
            for s in run["steps"]
        ],
    }


@pytest.fixture(scope="module")
def victims(module_collector: CollectorHandle) -> dict[str, dict[str, Any]]:
    """Two finished runs: one with ``agent_run.id`` (this project's instrumentation),
    one without (a framework's: its id is its span id)."""
    ours = record_spans(
        lambda t: _run(
            t,
            task="ours",
            run_id=OUR_RUN,
            tools=[("docker_ps", "3 up"), ("docker_logs", "ok")],
            think=True,
        )
    )
    foreign = record_spans(
        lambda t: _run(t, task="foreign", run_id=None, tools=[("search", "found it")])
    )
    send(module_collector, "http-protobuf", to_request([*ours, *foreign]))
    foreign_id = format(
        next(s for s in foreign if s.name.startswith("invoke")).context.span_id, "016x"
    )
    seen = {}
    for run_id, steps in ((OUR_RUN, 3), (foreign_id, 1)):
        found = wait_until(
            lambda r=run_id, n=steps: (
                (p := page(module_collector, r)) and p["total_steps"] == n and p
            )
        )
        seen[run_id] = what_a_reader_sees(found)
    return seen


def _span_named(request: ExportTraceServiceRequest, prefix: str) -> Span:
    return next(
        span
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
        if span.name.startswith(prefix)
    )


def _reuse_our_run_id(victims: dict[str, dict[str, Any]]) -> tuple[ExportTraceServiceRequest, str]:
    # A whole run (run span and steps) naming another trace's agent_run.id.
    request = to_request(
        record_spans(lambda t: _run(t, task=FORGED, run_id=OUR_RUN, tools=[("rm", FORGED)]))
    )
    return request, OUR_RUN


def _reuse_our_run_id_on_steps_only(
    victims: dict[str, dict[str, Any]],
) -> tuple[ExportTraceServiceRequest, str | None]:
    request = to_request(record_spans(lambda t: _tool(t, "rm", FORGED, OUR_RUN)))
    return request, None


def _reuse_a_step_span_id(
    victims: dict[str, dict[str, Any]],
) -> tuple[ExportTraceServiceRequest, str | None]:
    request = to_request(
        record_spans(lambda t: _run(t, task=FORGED, run_id=None, tools=[("rm", FORGED)]))
    )
    victim_step = victims[OUR_RUN]["steps"][0][0]
    _span_named(request, "execute_tool").span_id = bytes.fromhex(victim_step)
    return request, None


def _reuse_a_foreign_run_span_id(
    victims: dict[str, dict[str, Any]],
) -> tuple[ExportTraceServiceRequest, str]:
    request = to_request(
        record_spans(lambda t: _run(t, task=FORGED, run_id=None, tools=[("rm", FORGED)]))
    )
    foreign_id = next(r for r in victims if r != OUR_RUN)
    run_span = _span_named(request, "invoke_agent")
    old = run_span.span_id
    run_span.span_id = bytes.fromhex(foreign_id)
    _span_named(request, "execute_tool").parent_span_id = run_span.span_id
    assert old != run_span.span_id
    return request, foreign_id


def _parent_is_a_foreign_run_of_another_trace(
    victims: dict[str, dict[str, Any]],
) -> tuple[ExportTraceServiceRequest, str | None]:
    # Steps whose parent never arrives in their own trace, named as another trace's run.
    request = to_request(record_spans(lambda t: _tool(t, "rm", FORGED, None)))
    foreign_id = next(r for r in victims if r != OUR_RUN)
    _span_named(request, "execute_tool").parent_span_id = bytes.fromhex(foreign_id)
    return request, None


def _llm_span_with_a_think_steps_parent_id(
    victims: dict[str, dict[str, Any]],
) -> tuple[ExportTraceServiceRequest, str | None]:
    # A model call span whose id is the parent of another trace's think steps: the
    # "one step per model call" rule took it as their outer call and removed them.
    request = to_request(record_spans(lambda t: _chat(t, None)))
    _span_named(request, "chat").span_id = bytes.fromhex(victims[OUR_RUN]["run"]["span_id"])
    return request, None


def _inner_llm_span_with_a_think_steps_id(
    victims: dict[str, dict[str, Any]],
) -> tuple[ExportTraceServiceRequest, str | None]:
    # A model call inside a model call (an HTTP client's span under a framework's),
    # the inner one with another trace's think step id: inner steps are removed by id.
    def nested(tracer: Tracer) -> None:
        with tracer.start_as_current_span("chat outer") as outer:
            outer.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
            _chat(tracer, None)

    request = to_request(record_spans(nested))
    think = next(s for s in victims[OUR_RUN]["steps"] if s[1] == "think")
    _span_named(request, "chat qwen").span_id = bytes.fromhex(think[0])
    return request, None


ATTACKS: dict[str, Callable[[dict[str, dict[str, Any]]], tuple[Any, str | None]]] = {
    "agent_run.id of another trace's run": _reuse_our_run_id,
    "agent_run.id on steps only": _reuse_our_run_id_on_steps_only,
    "span id of another trace's step": _reuse_a_step_span_id,
    "span id of another trace's foreign run": _reuse_a_foreign_run_span_id,
    "parent id of another trace's foreign run": _parent_is_a_foreign_run_of_another_trace,
    "model call with a think step's parent id": _llm_span_with_a_think_steps_parent_id,
    "inner model call with a think step's id": _inner_llm_span_with_a_think_steps_id,
}


@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf", "http-json"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_another_trace_reusing_ids_changes_no_run_or_step(
    module_collector: CollectorHandle,
    victims: dict[str, dict[str, Any]],
    protocol: str,
    attack: str,
) -> None:
    request, forged_run = ATTACKS[attack](victims)
    trace_id = request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    sent = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    send(module_collector, protocol, request)

    # Every span of the attacking trace is kept ...
    stored = wait_until(
        lambda: (
            module_collector.query("SELECT count(*) FROM spans WHERE trace_id = ?", [trace_id])[0][
                0
            ]
            == sent
        )
    )
    assert stored
    # ... its steps are shown, and under no run of another trace ...
    tool_spans = sum(
        1
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
        if span.name.startswith("execute_tool")
    )
    placed = module_collector.query(
        "SELECT s.agent_run_id, r.trace_id FROM agent_steps s "
        "LEFT JOIN agent_runs r ON r.id = s.agent_run_id WHERE s.trace_id = ?",
        [trace_id],
    )
    assert len(placed) >= tool_spans, placed
    # (a run id whose run span was never sent names no stored run: None)
    assert all(
        run_id not in victims and run_trace in (trace_id, None) for run_id, run_trace in placed
    ), placed
    # ... and a run it sent is shown, as its own run.
    if forged_run is not None:
        own = wait_until(lambda: page(module_collector, trace_scoped_id(forged_run, trace_id)))
        assert own["task"] == FORGED and own["trace_id"] == trace_id
        assert [s["tool_result"] for s in own["steps"]] == [FORGED]
    # The other trace's runs read exactly as before.
    for run_id, before in victims.items():
        now = page(module_collector, run_id)
        assert now is not None and what_a_reader_sees(now) == before, (attack, run_id)
    verdict = httpx.get(f"{module_collector.api_url}/verify", timeout=60).json()
    assert verdict["ok"], verdict["problem"]


@pytest.mark.parametrize("together", [True, False], ids=["one request", "two requests"])
def test_two_traces_with_the_same_span_ids_are_both_shown(
    module_collector: CollectorHandle, together: bool
) -> None:
    """Senders whose id generators collide (counters, fixed seeds) lose nothing."""
    tasks = [f"collision {together} {n}" for n in range(2)]
    requests = [
        to_request(
            record_spans(
                lambda t, task=task: _run(
                    t, task=task, run_id=None, tools=[(f"tool of {task}", task)]
                )
            )
        )
        for task in tasks
    ]
    for request in requests:  # the same span ids in both traces
        _span_named(request, "invoke_agent").span_id = b"\x0a" * 8
        step = _span_named(request, "execute_tool")
        step.span_id, step.parent_span_id = b"\x0b" * 8, b"\x0a" * 8
    if together:
        merged = ExportTraceServiceRequest()
        for request in requests:
            merged.resource_spans.extend(request.resource_spans)
        send(module_collector, "http-protobuf", merged)
    else:
        for request in requests:
            send(module_collector, "http-protobuf", request)

    def shown() -> dict[str, list[Any]] | None:
        runs = httpx.get(
            f"{module_collector.api_url}/agent/runs",
            params={"q": f"collision {together}"},
            timeout=30,
        ).json()["runs"]
        pages = [page(module_collector, r["id"]) for r in runs]
        if len(pages) != 2 or not all(p and p["total_steps"] == 1 for p in pages):
            return None
        return {p["task"]: [s["tool_result"] for s in p["steps"]] for p in pages if p}

    assert wait_until(shown) == {task: [task] for task in tasks}
    verdict = httpx.get(f"{module_collector.api_url}/verify", timeout=60).json()
    assert verdict["ok"], verdict["problem"]
