"""Span shapes of runs and steps, checked on the real SDK with its in-memory exporter."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import instrumentation
from instrumentation import (
    RunCancelled,
    agent_run,
    current_run,
    tool_step,
    traced_tool,
)
from tests.instrumentation.conftest import Spans


def hex_id(span_id: int) -> str:
    return format(span_id, "016x")


def test_public_surface_is_pinned() -> None:
    assert sorted(instrumentation.__all__) == sorted(
        [
            "RunCancelled",
            "RunHandle",
            "StepHandle",
            "agent_run",
            "configure",
            "current_run",
            "instrument",
            "shutdown",
            "tool_step",
            "traced_tool",
            "uninstrument",
        ]
    )


def test_run_span_carries_the_run_attributes(spans: Spans) -> None:
    with agent_run(
        "why did web-1 restart?",
        agent_name="ops",
        source="n8n",
        triggered_by="alice",
        model_requested="qwen2.5-coder:14b",
        backend="3090",
        working_directory="/srv/app",
        metadata={"ticket": 42, "tags": ["prod"]},
        provider="ollama",
    ) as run:
        run_id = run.id
        assert run.status == "running"
        run.set_model_used("qwen2.5-coder:14b-q4")
        run.finish(final_answer="web-1 ran out of memory")
    assert str(uuid.UUID(run_id, version=4)) == run_id
    assert run.status == "completed"

    span = spans.named("invoke_agent ops")
    assert span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    metadata = json.loads(str(attrs.pop("agent_run.metadata")))
    assert metadata == {"ticket": 42, "tags": ["prod"]}
    assert attrs == {
        "gen_ai.operation.name": "invoke_agent",
        "agent_run.id": run_id,
        "agent_run.task": "why did web-1 restart?",
        "agent_run.status": "completed",
        "gen_ai.agent.name": "ops",
        "agent_run.source": "n8n",
        "agent_run.triggered_by": "alice",
        "gen_ai.request.model": "qwen2.5-coder:14b",
        "agent_run.backend": "3090",
        "agent_run.working_directory": "/srv/app",
        "gen_ai.provider.name": "ollama",
        "gen_ai.response.model": "qwen2.5-coder:14b-q4",
        "agent_run.final_answer": "web-1 ran out of memory",
    }


def test_run_without_agent_name_is_named_invoke_agent(spans: Spans) -> None:
    with agent_run("task"):
        pass
    assert spans.names() == ["invoke_agent"]


def test_each_step_kind_is_a_child_span_with_its_conventions(spans: Spans) -> None:
    with agent_run("t", agent_name="ops", model_requested="qwen", provider="ollama") as run:
        with run.step("think") as think:
            think.set_thinking("check the containers first")
            think.set_tokens(input_tokens=812, output_tokens=64)
            think.set_model("qwen:14b")
            think.set_attribute("gen_ai.response.finish_reasons", ["tool_calls"])
        with run.step(
            "tool_call", tool_name="docker_ps", tool_args={"all": True}, tool_call_id="call_1"
        ) as tool:
            tool.set_result("NAMES  STATUS\nweb-1  Restarting")
            tool.set_attribute("ssh.host", "box-1")
        with run.step("response") as response:
            response.set_result("done")
        with run.step("terminate"):
            pass
    run_span = spans.named("invoke_agent ops")
    think_span = spans.named("chat qwen")
    tool_span = spans.named("execute_tool docker_ps")
    for step in (think_span, tool_span, spans.named("response"), spans.named("terminate")):
        assert step.parent is not None
        assert step.parent.span_id == run_span.context.span_id
        assert step.context.trace_id == run_span.context.trace_id
        assert (step.attributes or {})["agent_run.id"] == run.id
    assert dict(think_span.attributes or {}) == {
        "agent_step.action_type": "think",
        "agent_run.id": run.id,
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "qwen",
        "gen_ai.provider.name": "ollama",
        "agent_step.thinking": "check the containers first",
        "gen_ai.usage.input_tokens": 812,
        "gen_ai.usage.output_tokens": 64,
        "gen_ai.response.model": "qwen:14b",
        "gen_ai.response.finish_reasons": ("tool_calls",),
    }
    assert dict(tool_span.attributes or {}) == {
        "agent_step.action_type": "tool_call",
        "agent_run.id": run.id,
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "docker_ps",
        "gen_ai.tool.call.arguments": '{"all": true}',
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.result": "NAMES  STATUS\nweb-1  Restarting",
        "ssh.host": "box-1",
    }
    response_attrs = spans.named("response").attributes or {}
    assert response_attrs["agent_step.action_type"] == "response"
    assert "gen_ai.operation.name" not in response_attrs
    # the run span sums the steps' tokens
    assert (run_span.attributes or {})["gen_ai.usage.input_tokens"] == 812
    assert (run_span.attributes or {})["gen_ai.usage.output_tokens"] == 64


def test_a_think_step_without_model_is_named_when_the_model_is_known(spans: Spans) -> None:
    with agent_run("t") as run, run.step("think") as step:
        step.set_model("llama3.1:8b")
    span = spans.named("chat llama3.1:8b")
    assert (span.attributes or {})["gen_ai.request.model"] == "llama3.1:8b"


def test_results_are_json_unless_strings_and_encoding_never_raises(spans: Spans) -> None:
    class BrokenRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    circular: dict[str, Any] = {}
    circular["self"] = circular
    with agent_run("t") as run:
        for index, value in enumerate(
            [{"rows": [1, 2]}, 7, None, b"bytes", circular, BrokenRepr(), {1, 2}]
        ):
            with run.step("tool_call", tool_name=f"t{index}", tool_args=value) as step:
                step.set_result(value)
    results = [
        (spans.named(f"execute_tool t{i}").attributes or {}).get("gen_ai.tool.call.result")
        for i in range(7)
    ]
    assert results[0] == '{"rows": [1, 2]}'
    assert results[1] == "7"
    assert results[2] == "null"
    assert results[3] == "bytes"
    assert results[4] == repr(circular)
    assert results[5] == "<unrepresentable BrokenRepr>"
    assert sorted(json.loads(str(results[6]))) == [1, 2]
    # tool arguments follow the same rules; None means none recorded
    args = (spans.named("execute_tool t0").attributes or {})["gen_ai.tool.call.arguments"]
    assert json.loads(str(args)) == {"rows": [1, 2]}
    assert "gen_ai.tool.call.arguments" not in (spans.named("execute_tool t2").attributes or {})


def test_an_exception_leaving_the_run_fails_it_and_is_reraised(spans: Spans) -> None:
    with pytest.raises(ConnectionError), agent_run("t", agent_name="ops") as run:
        with run.step("tool_call", tool_name="docker_logs"):
            raise ConnectionError("ssh: connect to host box-1 port 22: timed out")
    assert run.status == "failed"
    for span, prefix in (
        (spans.named("invoke_agent ops"), "agent_run"),
        (spans.named("execute_tool docker_logs"), "agent_step"),
    ):
        attrs = span.attributes or {}
        assert span.status.status_code is StatusCode.ERROR
        assert attrs["error.type"] == "ConnectionError"
        assert attrs[f"{prefix}.error"] == (
            "ConnectionError: ssh: connect to host box-1 port 22: timed out"
        )
        assert [event.name for event in span.events] == ["exception"]
    assert (spans.named("invoke_agent ops").attributes or {})["agent_run.status"] == "failed"


def test_a_step_error_caught_by_the_agent_leaves_the_run_completed(spans: Spans) -> None:
    with agent_run("t") as run:
        try:
            with run.step("tool_call", tool_name="flaky"):
                raise TimeoutError("no answer in 30 s")
        except TimeoutError:
            pass
        with run.step("tool_call", tool_name="manual") as step:
            step.set_error("exit status 1")
    assert spans.named("execute_tool flaky").status.status_code is StatusCode.ERROR
    manual = spans.named("execute_tool manual")
    assert manual.status.status_code is StatusCode.ERROR
    assert (manual.attributes or {})["agent_step.error"] == "exit status 1"
    run_span = spans.named("invoke_agent")
    assert run_span.status.status_code is StatusCode.UNSET
    assert (run_span.attributes or {})["agent_run.status"] == "completed"


@pytest.mark.parametrize("status", ["max_steps", "cancelled", "completed"])
def test_finish_sets_the_final_status(spans: Spans, status: str) -> None:
    with agent_run("t") as run:
        run.finish(final_answer={"answer": 1}, status=status)
    span = spans.named("invoke_agent")
    assert (span.attributes or {})["agent_run.status"] == status
    assert (span.attributes or {})["agent_run.final_answer"] == '{"answer": 1}'
    assert span.status.status_code is StatusCode.UNSET


def test_finish_failed_marks_the_span_as_an_error(spans: Spans) -> None:
    with agent_run("t") as run:
        run.finish(status="failed", error="model returned garbage")
    span = spans.named("invoke_agent")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["agent_run.error"] == "model returned garbage"
    assert (span.attributes or {})["agent_run.status"] == "failed"


def test_bad_arguments_raise_value_error_and_nothing_else(spans: Spans) -> None:
    with pytest.raises(ValueError, match="action_type"), agent_run("t") as run:
        run.step("plan")
    with agent_run("t") as run:
        with pytest.raises(ValueError, match="tool_name"):
            run.step("tool_call")
        with pytest.raises(ValueError, match="status"):
            run.finish(status="done")
        with run.step("think") as step:
            with pytest.raises(ValueError, match="input_tokens"):
                step.set_tokens(input_tokens=-1)
            with pytest.raises(ValueError, match="output_tokens"):
                step.set_tokens(input_tokens=5, output_tokens=1.5)  # type: ignore[arg-type]
            with pytest.raises(ValueError):
                step.set_attribute("", 1)
    with pytest.raises(ValueError, match="task"), agent_run():
        pass
    with pytest.raises(ValueError, match="task"):
        agent_run(42)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="generator"):

        @traced_tool
        def lines() -> Iterator[str]:
            yield "x"

    with pytest.raises(ValueError, match="generator"):

        @agent_run("t")
        async def stream() -> AsyncIterator[str]:
            yield "x"

    # the invalid token counts were not recorded, not even half of them
    think = spans.named("chat")
    assert "gen_ai.usage.input_tokens" not in (think.attributes or {})


def test_decorator_forms_sync_and_async(spans: Spans) -> None:
    @agent_run(agent_name="sync")
    def investigate(task: str, depth: int = 1) -> str:
        run = current_run()
        assert run is not None
        return run.id

    @agent_run
    async def bare() -> str | None:
        run = current_run()
        return run.id if run else None

    @agent_run("fixed task", agent_name="async")
    async def fixed(question: str) -> str:
        await asyncio.sleep(0)
        run = current_run()
        assert run is not None
        with run.step("response") as step:
            step.set_result(question)
        return run.id

    sync_id = investigate("disk full on box-2?")
    bare_id = asyncio.run(bare())
    fixed_id = asyncio.run(fixed("why?"))
    assert current_run() is None
    runs = {(s.attributes or {})["agent_run.id"]: s for s in spans.real() if s.parent is None}
    assert (runs[sync_id].attributes or {})["agent_run.task"] == "disk full on box-2?"
    assert runs[sync_id].name == "invoke_agent sync"
    assert bare_id is not None
    assert str((runs[bare_id].attributes or {})["agent_run.task"]).endswith("bare")
    assert (runs[fixed_id].attributes or {})["agent_run.task"] == "fixed task"
    assert investigate.__name__ == "investigate"


def test_async_context_manager_and_concurrent_runs_keep_their_own_current_run(
    spans: Spans,
) -> None:
    inside: list[str] = []
    both_inside = asyncio.Event()

    async def one(task: str) -> tuple[str, str]:
        async with agent_run(task) as run:
            # Both runs are open at once before either looks at its current run.
            inside.append(task)
            if len(inside) == 2:
                both_inside.set()
            await asyncio.wait_for(both_inside.wait(), timeout=10)
            seen = current_run()
            assert seen is run
            async with run.step("response"):
                await asyncio.sleep(0)
            return run.id, task

    async def both() -> list[tuple[str, str]]:
        return list(await asyncio.gather(one("a"), one("b")))

    results = asyncio.run(both())
    by_id = {
        (s.attributes or {})["agent_run.id"]: s for s in spans.real() if s.name == "invoke_agent"
    }
    for run_id, task in results:
        assert (by_id[run_id].attributes or {})["agent_run.task"] == task
        step = next(
            s
            for s in spans.real()
            if s.name == "response" and (s.attributes or {})["agent_run.id"] == run_id
        )
        assert step.parent is not None
        assert step.parent.span_id == by_id[run_id].context.span_id


def test_an_exception_in_a_decorated_async_run_fails_it(spans: Spans) -> None:
    @agent_run("t")
    async def broken() -> None:
        raise KeyError("container")

    with pytest.raises(KeyError):
        asyncio.run(broken())
    span = spans.named("invoke_agent")
    assert (span.attributes or {})["agent_run.status"] == "failed"
    assert (span.attributes or {})["error.type"] == "KeyError"


def test_traced_tool_records_bound_arguments_and_result(spans: Spans) -> None:
    @traced_tool
    def docker_logs(container: str, tail: int = 50, *, since: str | None = None) -> list[str]:
        return [f"{container}: OOMKilled"]

    @traced_tool(name="docker_ps")
    async def list_containers(all: bool = False) -> dict[str, str]:  # noqa: A002
        return {"web-1": "Restarting"}

    class Toolbox:
        @traced_tool
        def inspect(self, container: str) -> str:
            return "ok"

    with agent_run("t") as run:
        assert docker_logs("web-1", since="1h") == ["web-1: OOMKilled"]
        assert asyncio.run(list_containers(all=True)) == {"web-1": "Restarting"}
        assert Toolbox().inspect("db") == "ok"
    logs = spans.named("execute_tool docker_logs").attributes or {}
    assert json.loads(str(logs["gen_ai.tool.call.arguments"])) == {
        "container": "web-1",
        "tail": 50,
        "since": "1h",
    }
    assert json.loads(str(logs["gen_ai.tool.call.result"])) == ["web-1: OOMKilled"]
    assert logs["agent_run.id"] == run.id
    ps = spans.named("execute_tool docker_ps").attributes or {}
    assert json.loads(str(ps["gen_ai.tool.call.arguments"])) == {"all": True}
    assert json.loads(str(ps["gen_ai.tool.call.result"])) == {"web-1": "Restarting"}
    inspect = spans.named("execute_tool inspect").attributes or {}
    assert json.loads(str(inspect["gen_ai.tool.call.arguments"])) == {"container": "db"}


def test_traced_tool_records_an_exception_and_reraises_it(spans: Spans) -> None:
    @traced_tool
    def docker_restart(container: str) -> None:
        raise PermissionError("restart not allowed for db")

    @traced_tool
    async def docker_rm(container: str) -> None:
        raise PermissionError("rm is never allowed")

    with agent_run("t"):
        with pytest.raises(PermissionError):
            docker_restart("db")
        with pytest.raises(PermissionError):
            asyncio.run(docker_rm("db"))
    for name in ("execute_tool docker_restart", "execute_tool docker_rm"):
        span = spans.named(name)
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "PermissionError"
        assert "gen_ai.tool.call.result" not in (span.attributes or {})


def test_tools_outside_a_run_are_standalone_tool_spans(spans: Spans) -> None:
    @traced_tool
    def uptime() -> str:
        return "up 3 days"

    assert uptime() == "up 3 days"
    with tool_step("df", {"human": True}) as step:
        step.set_result("42% used")
    for name in ("execute_tool uptime", "execute_tool df"):
        span = spans.named(name)
        assert span.parent is None
        assert "agent_run.id" not in (span.attributes or {})
        assert (span.attributes or {})["gen_ai.operation.name"] == "execute_tool"


def test_tool_step_inside_a_run_is_a_step_of_that_run(spans: Spans) -> None:
    with agent_run("t") as run, tool_step("df", {"human": True}, tool_call_id="c9") as step:
        step.set_result("42% used")
    span = spans.named("execute_tool df")
    assert (span.attributes or {})["agent_run.id"] == run.id
    assert (span.attributes or {})["gen_ai.tool.call.id"] == "c9"
    assert span.parent is not None
    assert span.parent.span_id == spans.named("invoke_agent").context.span_id


def test_steps_from_another_thread_and_nested_spans_land_in_the_right_place(
    spans: Spans,
) -> None:
    with agent_run("outer", agent_name="outer") as outer:

        def worker() -> None:
            with outer.step("tool_call", tool_name="threaded"):
                # a span from any other instrumentation nests under the step
                trace.get_tracer("other").start_span("http GET").end()

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        with agent_run("inner", agent_name="inner"):
            pass
    outer_span = spans.named("invoke_agent outer")
    threaded = spans.named("execute_tool threaded")
    assert threaded.parent is not None
    assert threaded.parent.span_id == outer_span.context.span_id
    inner = spans.named("invoke_agent inner")
    assert inner.parent is not None
    assert inner.parent.span_id == outer_span.context.span_id
    assert inner.context.trace_id == outer_span.context.trace_id


def test_run_cancelled_leaving_the_run_ends_it_cancelled_not_failed(spans: Spans) -> None:
    with pytest.raises(RunCancelled), agent_run("t") as run:
        raise RunCancelled(run.id, requested_by="alice")
    span = spans.named("invoke_agent")
    assert (span.attributes or {})["agent_run.status"] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET
    assert run.status == "cancelled"


def test_ids_exposed_by_handles_match_the_spans(spans: Spans) -> None:
    with agent_run("t") as run, run.step("response") as step:
        step_id = step.id
    span = spans.named("response")
    assert step_id == hex_id(span.context.span_id)
    assert run.trace_id == format(span.context.trace_id, "032x")
