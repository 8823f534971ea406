"""Agents of no framework the collector knows, traced with nothing but a convention: every
shape of the OTel GenAI conventions (messages as attributes or as each kind of event, new and
old key names) and OpenInference's span kinds, sent by the real OpenTelemetry SDK over OTLP
to a real collector. Each must read as the agent ran (tests/frameworks/convention_agents.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Tracer

from tests.conftest import CollectorHandle
from tests.frameworks import convention_agents as C
from tests.support import wait_until

RUN_COLUMNS = (
    "id, agent_name, parent_run_id, status, task, final_answer, error, model_requested, "
    "model_used, provider, total_steps, input_tokens, output_tokens"
)
STEP_COLUMNS = "action_type, tool_name, tool_args, tool_result, status, error, finish_reasons"


class _TraceIds(SpanProcessor):
    """Notes the trace id of every span started."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.seen.add(format(span.get_span_context().trace_id, "032x"))


def _send(
    collector: CollectorHandle,
    write: Callable[[Tracer], None],
    *,
    app_span: bool,
    scope: str = "my.agent",
) -> str:
    """Trace one agent (each span exported as it ends), below a span of the application
    when ``app_span``; return its trace id."""
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(f"{collector.http_endpoint}/v1/traces"))
    )
    ids = _TraceIds()
    provider.add_span_processor(ids)
    tracer = provider.get_tracer(scope)
    if app_span:
        with tracer.start_as_current_span("handle_request"):
            write(tracer)
    else:
        write(tracer)
    provider.shutdown()
    assert len(ids.seen) == 1
    return ids.seen.pop()


def _runs(collector: CollectorHandle, trace_id: str) -> list[tuple[Any, ...]]:
    def settled() -> list[tuple[Any, ...]] | None:
        rows = collector.query(
            f"SELECT {RUN_COLUMNS} FROM agent_runs WHERE trace_id = ? ORDER BY started_at",
            [trace_id],
        )
        finished = len(rows) == 2 and all(r[3] != "running" and r[10] for r in rows)
        return rows if finished else None

    return wait_until(settled, timeout_s=15, what="the agent's run and its sub-agent's")


def _steps(collector: CollectorHandle, run_id: str) -> list[tuple[Any, ...]]:
    return collector.query(
        f"SELECT {STEP_COLUMNS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number",
        [run_id],
    )


@pytest.mark.parametrize("shape", sorted(C.GENAI_SHAPES))
def test_a_plain_genai_agent_reads_as_it_ran(module_collector: CollectorHandle, shape: str) -> None:
    trace_id = _send(module_collector, lambda t: C.genai_agent(t, shape), app_span=True)
    # The application's span above the agent is no run: the agent's invoke_agent is.
    run, sub = _runs(module_collector, trace_id)
    assert run[1:] == (
        "weather", None, "completed", C.TASK, C.ANSWER, None, C.REQUESTED, C.SERVED,
        C.PROVIDER, 7, *C.RUN_TOKENS,
    )  # fmt: skip
    assert _steps(module_collector, run[0]) == C.EXPECTED_STEPS
    assert sub[1:] == (
        "converter", run[0], "completed", C.SUB_TASK, C.SUB_ANSWER, None, C.REQUESTED,
        C.SERVED, C.PROVIDER, 1, 90, 9,
    )  # fmt: skip
    assert _steps(module_collector, sub[0]) == [("think", None, None, None, "ok", None, '["stop"]')]


@pytest.mark.parametrize("root_kind", ["AGENT", "CHAIN"])
def test_a_plain_openinference_agent_reads_as_it_ran(
    module_collector: CollectorHandle, root_kind: str
) -> None:
    trace_id = _send(
        module_collector, lambda t: C.openinference_agent(t, root_kind), app_span=False
    )
    run, sub = _runs(module_collector, trace_id)
    # No agent.name: the agent's name is its span's, less the method traced.
    assert run[1:] == (
        "WeatherAgent", None, "completed", C.TASK, C.ANSWER, None, C.REQUESTED, C.REQUESTED,
        C.PROVIDER, 7, *C.RUN_TOKENS,
    )  # fmt: skip
    # OpenInference records no finish reason; the CHAIN and RETRIEVER spans are no steps.
    assert _steps(module_collector, run[0]) == [s[:6] + (None,) for s in C.EXPECTED_STEPS]
    assert sub[1:] == (
        "converter", run[0], "completed", C.SUB_TASK, C.SUB_ANSWER, None, C.REQUESTED,
        C.REQUESTED, C.PROVIDER, 1, 90, 9,
    )  # fmt: skip


def test_a_genai_workflow_is_a_run_with_its_agents_as_child_runs(
    module_collector: CollectorHandle,
) -> None:
    trace_id = _send(module_collector, C.genai_workflow, app_span=False)

    def settled() -> list[tuple[Any, ...]] | None:
        rows = module_collector.query(
            f"SELECT {RUN_COLUMNS} FROM agent_runs WHERE trace_id = ? ORDER BY started_at",
            [trace_id],
        )
        return rows if len(rows) == 3 and all(r[3] != "running" for r in rows) else None

    workflow, researcher, writer = wait_until(settled, timeout_s=15, what="the workflow's runs")
    # The workflow makes no model call of its own: its agents' runs carry them.
    assert workflow[1:4] == ("report", None, "completed")
    assert workflow[10] == 0
    # No gen_ai.agent.name: each agent is named by its span, invoke_agent {name}.
    assert researcher[1:] == (
        "researcher", workflow[0], "completed", C.TASK, C.SUB_ANSWER, None, C.REQUESTED,
        C.SERVED, C.PROVIDER, 1, 10, 1,
    )  # fmt: skip
    assert writer[1:] == (
        "writer", workflow[0], "completed", C.SUB_TASK, C.ANSWER, None, C.REQUESTED,
        C.SERVED, C.PROVIDER, 1, 20, 2,
    )  # fmt: skip


def test_openllmetry_model_calls_of_an_unlisted_client_are_steps(
    module_collector: CollectorHandle,
) -> None:
    """OpenLLMetry before the GenAI operation names: llm.request.type and indexed messages,
    from an instrumentation of a client the collector does not list."""

    def write(tracer: Tracer) -> None:
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather"}
        with tracer.start_as_current_span("invoke_agent weather", attributes=agent):
            for number, completion in enumerate(
                ({"role": "assistant", "tool_calls.0.name": "get_weather"},
                 {"role": "assistant", "content": C.ANSWER}), start=1,
            ):  # fmt: skip
                attrs = {
                    "llm.request.type": "chat", "gen_ai.system": "SambaNova",
                    "gen_ai.request.model": C.REQUESTED, "gen_ai.response.model": C.SERVED,
                    "gen_ai.usage.prompt_tokens": number * 10,
                    "gen_ai.usage.completion_tokens": number,
                    "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": C.TASK,
                    **{f"gen_ai.completion.0.{k}": v for k, v in completion.items()},
                }  # fmt: skip
                with tracer.start_as_current_span("sambanova.chat", attributes=attrs):
                    pass

    trace_id = _send(
        module_collector, write, app_span=False, scope="opentelemetry.instrumentation.sambanova"
    )

    def settled() -> list[tuple[Any, ...]] | None:
        rows = module_collector.query(
            f"SELECT {RUN_COLUMNS} FROM agent_runs WHERE trace_id = ?", [trace_id]
        )
        return rows if len(rows) == 1 and rows[0][10] == 2 else None

    (run,) = wait_until(settled, timeout_s=15, what="the run and its two model calls")
    assert run[1:] == (
        "weather", None, "completed", C.TASK, C.ANSWER, None, C.REQUESTED, C.SERVED,
        "SambaNova", 2, 30, 3,
    )  # fmt: skip
