"""OTLP over gRPC, HTTP protobuf and HTTP JSON -> rows in DuckDB, field by field."""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

import pytest
from opentelemetry.trace import Status, StatusCode, Tracer

from instrumentation import attributes as A
from tests.collector.ingest.otlp import PROTOCOLS, export, record_spans

RUN_COLUMNS = (
    "id, task, working_directory, model_requested, model_used, backend, status, final_answer, "
    "total_steps, started_at, completed_at, duration_ms, source, triggered_by, error, metadata, "
    "trace_id, span_id, parent_run_id, agent_name, service_name, input_tokens, output_tokens"
)
STEP_COLUMNS = (
    "step_number, action_type, tool_name, tool_args, tool_result, thinking, error, status, "
    "model, input_tokens, output_tokens, duration_ms, agent_run_id"
)


def run_row(collector: Any, run_id: str) -> dict[str, Any]:
    rows = collector.query(f"SELECT {RUN_COLUMNS} FROM agent_runs WHERE id = ?", [run_id])
    assert len(rows) == 1, rows
    names = [c.strip() for c in RUN_COLUMNS.split(",")]
    return dict(zip(names, rows[0], strict=True))


def step_rows(collector: Any, run_id: str) -> list[dict[str, Any]]:
    rows = collector.query(
        f"SELECT {STEP_COLUMNS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number",
        [run_id],
    )
    names = [c.strip() for c in STEP_COLUMNS.split(",")]
    return [dict(zip(names, r, strict=True)) for r in rows]


def crash_investigation(tracer: Tracer, run_id: str = "run-crash-1") -> None:
    """A run in our own conventions: think, two tools, answer."""
    with tracer.start_as_current_span(
        "invoke_agent ops-agent",
        attributes={
            A.GEN_AI_OPERATION_NAME: "invoke_agent",
            A.GEN_AI_AGENT_NAME: "ops-agent",
            A.RUN_ID: run_id,
            A.RUN_TASK: "Analyze why container homepage crashed",
            A.RUN_SOURCE: "n8n",
            A.RUN_TRIGGERED_BY: "workflow:7/execution:42",
            A.RUN_BACKEND: "3090",
            A.RUN_WORKING_DIRECTORY: "/srv",
            A.GEN_AI_REQUEST_MODEL: "qwen2.5-coder",
            A.RUN_METADATA: json.dumps({"host": "nas"}),
        },
    ) as run:
        with tracer.start_as_current_span(
            "chat qwen2.5-coder",
            attributes={
                A.RUN_ID: run_id,
                A.STEP_ACTION_TYPE: "think",
                A.GEN_AI_OPERATION_NAME: "chat",
                A.GEN_AI_REQUEST_MODEL: "qwen2.5-coder",
                A.GEN_AI_RESPONSE_MODEL: "qwen2.5-coder:7b",
                A.GEN_AI_USAGE_INPUT_TOKENS: 120,
                A.GEN_AI_USAGE_OUTPUT_TOKENS: 30,
                A.STEP_THINKING: "List the containers first.",
            },
        ):
            pass
        for tool, args, result in (
            ("docker_ps", {"all": True}, "homepage  Exited (137)"),
            ("docker_logs", {"container": "homepage", "tail": 50}, "Killed: out of memory"),
        ):
            with tracer.start_as_current_span(
                f"execute_tool {tool}",
                attributes={
                    A.RUN_ID: run_id,
                    A.STEP_ACTION_TYPE: "tool_call",
                    A.GEN_AI_OPERATION_NAME: "execute_tool",
                    A.GEN_AI_TOOL_NAME: tool,
                    A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(args),
                    A.GEN_AI_TOOL_CALL_RESULT: result,
                },
            ):
                pass
        with tracer.start_as_current_span(
            "response", attributes={A.RUN_ID: run_id, A.STEP_ACTION_TYPE: "response"}
        ):
            pass
        run.set_attribute(A.RUN_STATUS, "completed")
        run.set_attribute(A.RUN_FINAL_ANSWER, "OOM kill; raise the memory limit.")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_run_and_steps_land_field_by_field(collector: Any, protocol: str) -> None:
    spans = record_spans(crash_investigation)
    export(protocol, collector, spans)

    root = next(s for s in spans if s.name.startswith("invoke_agent"))
    run = run_row(collector, "run-crash-1")
    assert run["status"] == "completed"
    assert run["task"] == "Analyze why container homepage crashed"
    assert run["final_answer"] == "OOM kill; raise the memory limit."
    assert run["model_requested"] == "qwen2.5-coder"
    assert run["model_used"] == "qwen2.5-coder:7b"  # from the LLM step
    assert (run["source"], run["triggered_by"]) == ("n8n", "workflow:7/execution:42")
    assert (run["backend"], run["working_directory"]) == ("3090", "/srv")
    assert json.loads(run["metadata"]) == {"host": "nas"}
    assert run["agent_name"] == "ops-agent"
    assert run["service_name"] == "test-agent"
    assert run["error"] is None
    assert run["total_steps"] == 4
    assert (run["input_tokens"], run["output_tokens"]) == (120, 30)
    assert run["trace_id"] == format(root.context.trace_id, "032x")
    assert run["span_id"] == format(root.context.span_id, "016x")
    assert run["duration_ms"] == pytest.approx((root.end_time - root.start_time) / 1e6, abs=0.01)
    assert isinstance(run["started_at"], datetime)
    assert run["completed_at"] >= run["started_at"]

    steps = step_rows(collector, "run-crash-1")
    assert [s["step_number"] for s in steps] == [1, 2, 3, 4]
    assert [s["action_type"] for s in steps] == ["think", "tool_call", "tool_call", "response"]
    assert [s["tool_name"] for s in steps] == [None, "docker_ps", "docker_logs", None]
    assert json.loads(steps[1]["tool_args"]) == {"all": True}
    assert json.loads(steps[2]["tool_args"]) == {"container": "homepage", "tail": 50}
    assert steps[2]["tool_result"] == "Killed: out of memory"
    assert steps[0]["thinking"] == "List the containers first."
    assert (steps[0]["input_tokens"], steps[0]["output_tokens"]) == (120, 30)
    assert steps[0]["model"] == "qwen2.5-coder:7b"
    assert all(s["status"] == "ok" and s["duration_ms"] is not None for s in steps)
    assert collector.query("SELECT count(*) FROM spans")[0][0] == len(spans)


def failing_run(tracer: Tracer) -> None:
    with tracer.start_as_current_span(
        "invoke_agent ops-agent",
        attributes={A.GEN_AI_OPERATION_NAME: "invoke_agent", A.RUN_ID: "run-fail", A.RUN_TASK: "t"},
    ) as run:
        with tracer.start_as_current_span(
            "execute_tool docker_restart",
            attributes={
                A.RUN_ID: "run-fail",
                A.STEP_ACTION_TYPE: "tool_call",
                A.GEN_AI_TOOL_NAME: "docker_restart",
                A.GEN_AI_TOOL_CALL_ARGUMENTS: '{"container": "db"}',
            },
        ) as step:
            error = PermissionError("restart refused by policy")
            step.record_exception(error)
            step.set_status(Status(StatusCode.ERROR, "PermissionError: restart refused by policy"))
            step.set_attribute(A.ERROR_TYPE, "PermissionError")
        run.record_exception(RuntimeError("gave up"))
        run.set_status(Status(StatusCode.ERROR, "RuntimeError: gave up"))
        run.set_attribute(A.ERROR_TYPE, "RuntimeError")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_failed_run_keeps_error_and_failed_step(collector: Any, protocol: str) -> None:
    export(protocol, collector, record_spans(failing_run))
    run = run_row(collector, "run-fail")
    assert run["status"] == "failed"
    assert run["error"] == "RuntimeError: gave up"
    (step,) = step_rows(collector, "run-fail")
    assert step["status"] == "error"
    assert step["error"] == "PermissionError: restart refused by policy"
    assert step["tool_name"] == "docker_restart"


def test_out_of_order_duplicates_and_interleaved_runs(collector: Any) -> None:
    run_ids = [f"run-{i:02d}" for i in range(12)]
    spans = record_spans(lambda t: [crash_investigation(t, rid) for rid in run_ids])
    shuffled = list(spans)
    random.Random(7).shuffle(shuffled)
    # Steps before their runs for half the runs, then everything again (duplicates).
    chunks = [shuffled[i : i + 7] for i in range(0, len(shuffled), 7)]
    for chunk in chunks:
        export("grpc", collector, chunk)
    for chunk in reversed(chunks):
        export("http-protobuf", collector, chunk)

    assert collector.query("SELECT count(*) FROM spans")[0][0] == len(spans)
    assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == 12
    assert collector.query("SELECT count(*) FROM agent_steps")[0][0] == 12 * 4
    for rid in run_ids:
        run = run_row(collector, rid)
        assert run["status"] == "completed" and run["total_steps"] == 4
        assert (run["input_tokens"], run["output_tokens"]) == (120, 30)
        steps = step_rows(collector, rid)
        assert [s["action_type"] for s in steps] == ["think", "tool_call", "tool_call", "response"]
        assert [s["tool_name"] for s in steps][1:3] == ["docker_ps", "docker_logs"]


def test_pending_copy_shows_running_and_never_overrides_the_real_span(collector: Any) -> None:
    spans = record_spans(crash_investigation)
    root = next(s for s in spans if s.name.startswith("invoke_agent"))
    real_id = format(root.context.span_id, "016x")

    def pending(tracer: Tracer) -> None:
        from opentelemetry import trace

        parent = trace.set_span_in_context(trace.NonRecordingSpan(root.context))
        attrs = dict(root.attributes or {})
        attrs.pop(A.RUN_STATUS, None)
        attrs.pop(A.RUN_FINAL_ANSWER, None)
        attrs.update({A.PENDING: True, A.PENDING_PARENT_ID: real_id})
        span = tracer.start_span(root.name, context=parent, attributes=attrs)
        span.end(span.start_time if hasattr(span, "start_time") else None)

    (pending_span,) = record_spans(pending)
    export("grpc", collector, [pending_span])
    run = run_row(collector, "run-crash-1")
    assert run["status"] == "running"
    assert run["span_id"] == real_id
    assert run["task"] == "Analyze why container homepage crashed"

    export("grpc", collector, spans)
    assert run_row(collector, "run-crash-1")["status"] == "completed"
    export("http-protobuf", collector, [pending_span])  # a late copy changes nothing
    after = run_row(collector, "run-crash-1")
    assert after["status"] == "completed"
    assert after["final_answer"] == "OOM kill; raise the memory limit."


def foreign_nested(tracer: Tracer) -> None:
    """GenAI spans from another instrumentation: no agent_run.id anywhere."""
    with tracer.start_as_current_span(
        "invoke_agent planner",
        attributes={A.GEN_AI_OPERATION_NAME: "invoke_agent", A.GEN_AI_AGENT_NAME: "planner"},
    ):
        with tracer.start_as_current_span("workflow step"):  # neither run nor step
            with tracer.start_as_current_span(
                "execute_tool search",
                attributes={A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "search"},
            ):
                pass
            with tracer.start_as_current_span(
                "invoke_agent worker",
                attributes={A.GEN_AI_OPERATION_NAME: "invoke_agent", A.GEN_AI_AGENT_NAME: "worker"},
            ):
                with tracer.start_as_current_span(
                    "chat llama3",
                    attributes={A.GEN_AI_OPERATION_NAME: "chat", A.GEN_AI_REQUEST_MODEL: "llama3"},
                ):
                    pass


@pytest.mark.parametrize("split", [False, True])
def test_foreign_spans_find_their_run_whatever_the_order(collector: Any, split: bool) -> None:
    spans = record_spans(foreign_nested)
    by_name = {s.name: s for s in spans}
    if split:
        # Children end first, so a long run's steps arrive before it, one by one.
        for span in spans:
            export("grpc", collector, [span])
    else:
        export("http-json", collector, spans)
    planner = format(by_name["invoke_agent planner"].context.span_id, "016x")
    worker = format(by_name["invoke_agent worker"].context.span_id, "016x")
    assert run_row(collector, planner)["parent_run_id"] is None
    assert run_row(collector, worker)["parent_run_id"] == planner
    assert [(s["tool_name"], s["action_type"]) for s in step_rows(collector, planner)] == [
        ("search", "tool_call")
    ]
    worker_steps = step_rows(collector, worker)
    assert [(s["action_type"], s["model"]) for s in worker_steps] == [("think", "llama3")]
    assert collector.query("SELECT count(*) FROM agent_steps WHERE agent_run_id IS NULL")[0][0] == 0
    # The plain span is kept raw but is not invented as a step.
    assert collector.query("SELECT count(*) FROM spans WHERE name = 'workflow step'")[0][0] == 1
    assert collector.query("SELECT count(*) FROM agent_steps")[0][0] == 2


def two_foreign_runs_with_a_model_call(tracer: Tracer) -> None:
    """Two runs of another instrumentation (no task of their own), one model call each."""
    for agent, ask in (("live", "Why did the backup fail?"), ("done", "Rotate the logs.")):
        with tracer.start_as_current_span(
            f"invoke_agent {agent}",
            attributes={A.GEN_AI_OPERATION_NAME: "invoke_agent", A.GEN_AI_AGENT_NAME: agent},
        ):
            with tracer.start_as_current_span(
                "chat llama3",
                attributes={
                    A.GEN_AI_OPERATION_NAME: "chat",
                    A.GEN_AI_REQUEST_MODEL: "llama3",
                    A.GEN_AI_INPUT_MESSAGES: json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": ask}]}]
                    ),
                },
            ):
                pass


def test_a_live_run_takes_its_task_beside_a_finished_run_in_one_request(collector: Any) -> None:
    """The writer reads live tasks only for runs not final after the batch: a run known
    from its pending copy alone still gets its task and model from its model call when
    the same request holds another run's finished span."""
    spans = record_spans(two_foreign_runs_with_a_model_call)
    by_name = {s.name: s for s in spans}
    live_root = by_name["invoke_agent live"]
    live_id = format(live_root.context.span_id, "016x")

    def pending(tracer: Tracer) -> None:
        from opentelemetry import trace

        parent = trace.set_span_in_context(trace.NonRecordingSpan(live_root.context))
        attrs = dict(live_root.attributes or {})
        attrs.update({A.PENDING: True, A.PENDING_PARENT_ID: live_id})
        tracer.start_span(live_root.name, context=parent, attributes=attrs).end()

    (pending_span,) = record_spans(pending)
    live_call = next(
        s for s in spans if s.parent is not None and s.parent.span_id == live_root.context.span_id
    )
    finished = [s for s in spans if s is not live_root and s is not live_call]
    export("grpc", collector, [pending_span, live_call, *finished])
    live = run_row(collector, live_id)
    assert live["status"] == "running"
    assert live["task"] == "Why did the backup fail?"
    assert live["model_requested"] == "llama3"
    done = run_row(collector, format(by_name["invoke_agent done"].context.span_id, "016x"))
    assert done["status"] == "completed"
    assert done["task"] == "Rotate the logs."
