"""A Traceloop-decorated agent whose model calls are in the shape OpenLLMetry wrote before the
GenAI message attributes (``llm.request.type``, ``gen_ai.prompt.N.*``): the SDK installed
for test_venv_frameworks.py writes the current shape, so this one is sent by hand, through
the real OpenTelemetry SDK and the real collector, then re-derived."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.conftest import start_test_collector
from tests.frameworks.teams import derived_rows, rederived_rows
from tests.support import wait_until

QUESTION = "Why is the sky blue?"
ANSWER = "Rayleigh scattering."


def _call(tracer: Any, prompt: list[tuple[str, str]], completion: dict[str, Any]) -> None:
    attrs: dict[str, Any] = {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "llama3.1:8b",
        "gen_ai.response.model": "llama3.1:8b-instruct",
        "gen_ai.usage.prompt_tokens": 50,
        "gen_ai.usage.completion_tokens": 10,
    }
    for i, (role, content) in enumerate(prompt):
        attrs[f"gen_ai.prompt.{i}.role"] = role
        attrs[f"gen_ai.prompt.{i}.content"] = content
    attrs.update({f"gen_ai.completion.0.{k}": v for k, v in completion.items()})
    with tracer.start_as_current_span("openai.chat", attributes=attrs):
        pass


def _entity(kind: str, name: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "traceloop.span.kind": kind,
        "traceloop.entity.name": name,
        "traceloop.entity.input": json.dumps({"args": args, "kwargs": kwargs}),
    }


def _send(endpoint: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    sdk = provider.get_tracer("traceloop.tracer")
    openai = provider.get_tracer("opentelemetry.instrumentation.openai.v1")
    flow_input = _entity("workflow", "research", [], {"question": QUESTION, "depth": 1})
    with sdk.start_as_current_span("research.workflow", attributes=flow_input) as flow:
        with sdk.start_as_current_span(
            "researcher.agent", attributes=_entity("agent", "researcher", [QUESTION], {})
        ) as agent:
            _call(
                openai,
                [("system", "Be brief."), ("user", QUESTION)],
                {"role": "assistant", "finish_reason": "tool_calls",
                 "tool_calls.0.name": "web_search", "tool_calls.0.arguments": '{"q": "sky"}'},
            )  # fmt: skip
            tool = _entity("tool", "web_search", [], {"q": "sky"})
            with sdk.start_as_current_span("web_search.tool", attributes=tool) as search:
                search.set_status(Status(StatusCode.ERROR, "search is down"))
            _call(
                openai,
                [("user", QUESTION)],
                {"role": "assistant", "content": ANSWER, "finish_reason": "stop"},
            )
            agent.set_attribute("traceloop.entity.output", json.dumps(ANSWER))
        flow.set_attribute("traceloop.entity.output", json.dumps({"answer": ANSWER}))
    provider.shutdown()


def test_older_openllmetry_spans_make_the_same_runs_and_rederive_alike(tmp_path: Path) -> None:
    db = tmp_path / "audit.duckdb"
    collector = start_test_collector(db)
    try:
        _send(collector.http_endpoint)
        columns = "id, agent_name, parent_run_id, status, task, final_answer, model_requested, "
        columns += "model_used, total_steps, input_tokens, output_tokens"
        runs = wait_until(
            lambda: (
                rows
                if len(rows := collector.query(f"SELECT {columns} FROM agent_runs ORDER BY task"))
                == 2
                and all(r[8] is not None for r in rows)
                and rows[0][8] == 3
                else None
            ),
            timeout_s=15,
            what="the workflow's and the agent's runs",
        )
        agent, flow = runs  # "Why ..." sorts before '{"question" ...'
        assert flow[1:] == (
            "research", None, "completed", json.dumps({"question": QUESTION, "depth": 1}),
            json.dumps({"answer": ANSWER}), "llama3.1:8b", "llama3.1:8b-instruct", 0, None, None,
        )  # fmt: skip
        assert agent[1:] == (
            "researcher", flow[0], "completed", QUESTION, ANSWER,
            "llama3.1:8b", "llama3.1:8b-instruct", 3, 100, 20,
        )  # fmt: skip
        steps = collector.query(
            "SELECT action_type, tool_name, tool_args, status, error, model, finish_reasons "
            "FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number",
            [agent[0]],
        )
        assert steps == [
            ("think", None, None, "ok", None, "llama3.1:8b-instruct", '["tool_calls"]'),
            ("tool_call", "web_search", '{"q": "sky"}', "error", "search is down", None, None),
            ("think", None, None, "ok", None, "llama3.1:8b-instruct", '["stop"]'),
        ]
        before = derived_rows(collector.query)
    finally:
        collector.stop()

    assert rederived_rows(db) == before
