"""The stored runs are what the whole trace says, whatever order its spans arrive in.

Each example takes one trace set (a framework's captured spans, or the
instrumentation's own spans with their pending copies), gives it fresh ids, and
sends it twice: once in order in one request to one collector, once permuted,
cut into several requests over gRPC, OTLP/HTTP protobuf and OTLP/HTTP JSON,
with some spans repeated, to another. Every derived run and step column must
then be equal.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.trace.v1.trace_pb2 import Span

import instrumentation
from instrumentation import agent_run
from tests.collector.ingest.otlp import to_otlp_json, to_request
from tests.conftest import CollectorHandle, start_test_collector
from tests.derived_rows import derived_rows
from tests.frameworks.captured_runs import body_of
from tests.instrumentation.conftest import Spans
from tests.span_items import SpanItem, renamed, request_of, span_items, trace_ids

FRAMEWORKS = (
    "ag2_agent",
    "ag2_native",
    "ag2_openinference",
    "agent_framework",
    "agno",
    "ai_sdk",
    "anthropic_openinference",
    "anthropic_otel",
    "bedrock_openinference",
    "bedrock_otel",
    "beeai",
    "client_loop_openllmetry",
    "cohere_openinference",
    "cohere_otel",
    "dspy",
    "edges_agent_framework",
    "edges_agno",
    "edges_ai_sdk",
    "edges_autogen",
    "edges_beeai",
    "edges_crewai",
    "edges_dspy",
    "edges_google_adk",
    "edges_haystack",
    "edges_langgraph",
    "edges_langgraph_openllmetry",
    "edges_llamaindex",
    "edges_mastra",
    "edges_mcp",
    "edges_openai_agents",
    "edges_pydantic_ai",
    "edges_semantic_kernel",
    "edges_smolagents",
    "edges_strands",
    "failures_agno",
    "failures_crewai",
    "failures_google_adk",
    "failures_haystack",
    "failures_langgraph",
    "failures_langgraph_openllmetry",
    "failures_llamaindex",
    "failures_openai_agents",
    "failures_pydantic_ai",
    "failures_semantic_kernel",
    "failures_smolagents",
    "failures_strands",
    "google_adk_2",
    "google_adk_2_no_content",
    "google_adk_2_schema_1",
    "google_genai_openinference",
    "google_genai_otel",
    "groq_openinference",
    "groq_otel",
    "haystack",
    "instructor",
    "langchain_middleware",
    "langfuse",
    "langgraph",
    "langgraph_js",
    "litellm_both",
    "litellm_otel",
    "mastra",
    "mistral_openinference",
    "mistral_otel",
    "mlflow_mlflow",
    "openai_agents",
    "openai_agents_js",
    "openai_agents_js_streamed",
    "openai_responses_openinference",
    "openai_responses_otel",
    "openai_responses_streamed_openinference",
    "openai_responses_streamed_otel",
    "pydantic_ai",
    "pydantic_ai_v1",
    "semantic_kernel",
    "sessions_ag2_native",
    "sessions_ag2_openinference",
    "sessions_agent_framework",
    "sessions_agno",
    "sessions_ai_sdk",
    "sessions_autogen",
    "sessions_beeai",
    "sessions_crewai",
    "sessions_dspy",
    "sessions_google_adk",
    "sessions_haystack",
    "sessions_langgraph",
    "sessions_llamaindex",
    "sessions_mastra",
    "sessions_openai_agents",
    "sessions_openai_agents_js",
    "sessions_pydantic_ai",
    "sessions_semantic_kernel",
    "sessions_smolagents",
    "sessions_strands",
    "shapes_crewai",
    "shapes_langgraph",
    "shapes_langgraph_openllmetry",
    "shapes_openai_agents",
    "shapes_pydantic_ai",
    "shapes_smolagents",
)
TRANSPORTS = ("grpc", "http-protobuf", "http-json")


def _own_spans() -> bytes:
    """A run of the instrumentation itself, pending copies included: think, a tool,
    a failed tool, a nested run, an answer."""
    recorded = Spans()
    instrumentation.shutdown(timeout_s=5)
    instrumentation.configure(tracer_provider=recorded.provider, cancel_poll_s=None)
    try:
        with agent_run("why did web-1 restart?", agent_name="ops", model_requested="qwen") as run:
            with run.step("think") as step:
                step.set_thinking("look at the containers")
                step.set_tokens(input_tokens=100, output_tokens=20)
            with run.step("tool_call", tool_name="docker_ps", tool_args={"all": True}) as step:
                step.set_result("web-1 Exited (137)")
            with run.step("tool_call", tool_name="docker_restart", tool_args={"c": "web-1"}) as s:
                s.set_error("refused by policy")
            with agent_run("read the logs", agent_name="reader") as inner:
                with inner.step("tool_call", tool_name="docker_logs") as step:
                    step.set_result("OOM")
            with run.step("response") as step:
                step.set_result("out of memory")
    finally:
        instrumentation.shutdown(timeout_s=5)
        recorded.provider.shutdown()
    return to_request(recorded.all()).SerializeToString()


def _wrapped_model_calls() -> bytes:
    """A foreign agent whose framework's model-call spans each wrap an HTTP client's
    (one model call traced twice), around a tool call."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("framework")
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "qwen"}
    with tracer.start_as_current_span(
        "invoke_agent helper",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"},
    ):
        for turn in range(2):
            with tracer.start_as_current_span("chat qwen", attributes=chat):
                with tracer.start_as_current_span(
                    "chat qwen", attributes={**chat, "gen_ai.usage.input_tokens": 10 + turn}
                ):
                    pass
            if turn == 0:
                with tracer.start_as_current_span(
                    "execute_tool ps",
                    attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "ps"},
                ):
                    pass
    provider.shutdown()
    return to_request(memory.get_finished_spans()).SerializeToString()


BODIES: dict[str, bytes] = {name: body_of(name) for name in FRAMEWORKS}


class Connected:
    """A running collector and one open connection to each of its receivers (an exporter
    keeps its own; a new HTTP client per request would build a TLS context each time)."""

    def __init__(self, handle: CollectorHandle) -> None:
        self.handle = handle
        self._channel = grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}")
        self._stub = TraceServiceStub(self._channel)
        self._http = httpx.Client(base_url=handle.http_endpoint, timeout=30)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.handle.query(sql, params)

    def send(self, transport: str, request: ExportTraceServiceRequest) -> None:
        """Send with the transport; assert every span was accepted."""
        if transport == "grpc":
            partial = self._stub.Export(request, timeout=30).partial_success
            rejected, message = partial.rejected_spans, partial.error_message
        elif transport == "http-protobuf":
            response = self._http.post(
                "/v1/traces",
                content=request.SerializeToString(),
                headers={"content-type": "application/x-protobuf"},
            )
            assert response.status_code == 200, response.text
            parsed = ExportTraceServiceResponse()
            parsed.ParseFromString(response.content)
            partial = parsed.partial_success
            rejected, message = partial.rejected_spans, partial.error_message
        else:
            response = self._http.post(
                "/v1/traces",
                content=json.dumps(to_otlp_json(request)).encode(),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 200, response.text
            body = response.json().get("partialSuccess", {})
            rejected, message = int(body.get("rejectedSpans", 0)), body.get("errorMessage")
        assert rejected == 0, message
        # No wait for the writer here: requests acknowledged one after another may be
        # applied together, and that grouping is part of what is under test.

    def close(self) -> None:
        self._http.close()
        self._channel.close()
        self.handle.stop()


def stored(handle: Connected, traces: list[str]) -> tuple[list[Any], list[Any]]:
    """Every run and step of ``traces``, all derived columns, in a stable order."""
    return derived_rows(handle.handle, traces)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Connected, ...]]:
    """A collector fed in order, and one fed in any order."""
    root = tmp_path_factory.mktemp("orders")
    ordered = Connected(start_test_collector(root / "ordered.duckdb"))
    shuffled = Connected(start_test_collector(root / "shuffled.duckdb"))
    try:
        yield ordered, shuffled
    finally:
        ordered.close()
        shuffled.close()


_examples = itertools.count()


@st.composite
def deliveries(draw: st.DrawFn, size: int) -> list[tuple[str, list[int]]]:
    """A permutation of ``range(size)`` cut into requests, each with its transport; some
    spans sent again in a later request (an exporter's retry)."""
    order = draw(st.permutations(range(size)))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, size - 1)), max_size=min(6, size - 1))))
    parts = [order[a:b] for a, b in itertools.pairwise([0, *cuts, size]) if order[a:b]]
    again = draw(st.lists(st.sampled_from(order), max_size=3))
    if again:
        parts.append(again)
    return [(draw(st.sampled_from(TRANSPORTS)), list(part)) for part in parts]


def _check_order_free(pair: tuple[Connected, ...], body: bytes, data: st.DataObject) -> None:
    items = renamed(span_items(body), f"x{next(_examples)}")
    _check_plan(pair, items, data.draw(deliveries(len(items))))


def _check_plan(
    pair: tuple[Connected, ...], items: list[SpanItem], plan: list[tuple[str, list[int]]]
) -> None:
    """``items`` in one request to one collector, as ``plan`` says to the other: the same
    runs and steps."""
    ordered, shuffled = pair
    ordered.send("http-protobuf", request_of(items))
    for transport, part in plan:
        shuffled.send(transport, request_of([items[i] for i in part]))
    traces = trace_ids(items)
    expected = stored(ordered, traces)
    assert expected[0], "the in-order trace made no run"
    got = stored(shuffled, traces)
    assert got[0] == expected[0], plan
    assert got[1] == expected[1], plan


@pytest.mark.parametrize("name", FRAMEWORKS)
@settings(
    max_examples=8,
    deadline=None,
    # No shrinking: each example costs requests to two collectors; a failure is
    # reported with the plan that found it.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize=True,  # the same examples on every machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_captured_trace_stores_the_same_runs_in_any_order(
    pair: tuple[Connected, ...], name: str, data: st.DataObject
) -> None:
    _check_order_free(pair, BODIES[name], data)


# How instrumentations name a model call (this test's own reading, not the collector's).
_MODEL_CALL_OPERATIONS = frozenset({"chat", "generate_content", "text_completion"})
_MODEL_CALL_NAMES = frozenset({"call_llm"})
_MODEL_CALL_KINDS = {  # attribute -> its value on a model call
    "openinference.span.kind": "LLM",
    "llm.request.type": "chat",  # OpenLLMetry's older instrumentations (Cohere, Mistral)
    "ai.operationId": "ai.generateText.doGenerate",  # the AI SDK
    "langfuse.observation.type": "generation",
    "mlflow.spanType": '"CHAT_MODEL"',  # MLflow's attribute values are JSON
}


def _text_attribute(span: Span, key: str) -> str:
    return next((a.value.string_value for a in span.attributes if a.key == key), "")


def _is_model_call(span: Span) -> bool:
    return (
        _text_attribute(span, "gen_ai.operation.name") in _MODEL_CALL_OPERATIONS
        or any(_text_attribute(span, key) == value for key, value in _MODEL_CALL_KINDS.items())
        or span.name in _MODEL_CALL_NAMES
    )


def calls_last_deepest_first(items: list[SpanItem]) -> list[tuple[str, list[int]]]:
    """Every span but the model calls in one request, then each model call in a request of
    its own, the deepest in its trace first: a run and the runs nested in it are stored,
    and the nested runs' calls, before the run's own calls (what a derivation from part of
    the trace reads then is not what the whole trace says)."""
    parent_of = {(s.trace_id, s.span_id): s.parent_span_id for _, _, s in items}

    def depth(span: Span) -> int:
        seen: set[bytes] = set()
        parent = span.parent_span_id
        while (span.trace_id, parent) in parent_of and parent not in seen:
            seen.add(parent)
            parent = parent_of[(span.trace_id, parent)]
        return len(seen)

    calls = [i for i, (_, _, span) in enumerate(items) if _is_model_call(span)]
    calls.sort(key=lambda i: -depth(items[i][2]))
    late = set(calls)
    rest = [i for i in range(len(items)) if i not in late]
    return [("grpc", rest), *[(TRANSPORTS[n % 3], [i]) for n, i in enumerate(calls)]]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_captured_trace_stores_the_same_runs_when_outer_model_calls_come_last(
    pair: tuple[Connected, ...], name: str
) -> None:
    items = renamed(span_items(BODIES[name]), f"calls-last-{name}")
    plan = calls_last_deepest_first(items)
    assert len(plan) > 2, "the trace has model calls to send late"
    _check_plan(pair, items, plan)


@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize=True,  # the same examples on every machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_own_spans_store_the_same_runs_in_any_order(
    pair: tuple[Connected, ...], own_body: bytes, data: st.DataObject
) -> None:
    _check_order_free(pair, own_body, data)


@pytest.fixture(scope="module")
def own_body() -> bytes:
    return _own_spans()


@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize=True,  # the same examples on every machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_model_calls_traced_twice_store_the_same_runs_in_any_order(
    pair: tuple[Connected, ...], data: st.DataObject
) -> None:
    _check_order_free(pair, WRAPPED, data)


WRAPPED = _wrapped_model_calls()


def test_model_calls_traced_twice_sent_as_they_end_leave_no_stand_in(
    pair: tuple[Connected, ...],
) -> None:
    """Each span in a request of its own, in the order they end (inner calls first)."""
    _, shuffled = pair
    items = renamed(span_items(WRAPPED), "ends")
    for item in items:
        shuffled.send("grpc", request_of([item]))
    traces = trace_ids(items)
    runs = shuffled.query(
        "SELECT status, total_steps, metadata FROM agent_runs WHERE trace_id = ?", traces
    )
    assert runs == [("completed", 3, None)]


def test_a_run_whose_last_model_call_comes_after_it_answers_with_that_call(
    pair: tuple[Connected, ...],
) -> None:
    """The Agents SDK's run span, its first three turns, its tools and one model call
    first; the last turn and the other model calls later: the answer first derived from
    the tools is replaced by the last model call's."""
    ordered, shuffled = pair
    items = renamed(span_items(BODIES["openai_agents"]), "late-answer")
    first = [1, 2, 11, 3, 7, 5, 8]  # (indices into the captured file, which is fixed)
    assert items[11][2].name == "weather_agent" and items[9][2].name == "generation"
    ordered.send("http-protobuf", request_of(items))
    shuffled.send("grpc", request_of([items[i] for i in first]))
    shuffled.send("http-json", request_of([it for i, it in enumerate(items) if i not in first]))
    traces = trace_ids(items)
    expected = stored(ordered, traces)
    assert any(row[7] == "It is 64.4F and sunny in Paris." for row in expected[0])
    assert stored(shuffled, traces) == expected
