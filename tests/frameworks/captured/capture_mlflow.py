"""The shared agent as MLflow Tracing's documentation shows it: ``@mlflow.trace`` on the
agent (``span_type="AGENT"``) and on each tool (``"TOOL"``), ``mlflow.openai.autolog()``
for the model calls, exported over OTLP (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, which
MLflow uses instead of a tracking server while ``MLFLOW_ENABLE_OTLP_EXPORTER`` is on, as by
default) to a receiver here that keeps each request's body; a failing model; a lone call.

    VENV/bin/python -m tests.frameworks.captured.capture_mlflow mlflow|semconv [OUT_DIR]

``semconv`` also sets ``MLFLOW_ENABLE_OTEL_GENAI_SEMCONV=true`` (GenAI keys on the exported
spans). VENV holds ``mlflow-tracing``, ``openai`` and ``opentelemetry-exporter-otlp-proto-http``
(versions written into ``mlflow_<mode>.expected.json``)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured import hand_loop
from tests.scripted_llm import ScriptedLLM, answer

HERE = Path(__file__).parent
MODEL = "scripted-mlflow"
FLUSH_DEADLINE_S = 30.0
# Two agent runs, five model calls in them, the plain question's three spans and the lone
# call; the tools come on top.
_SPANS = 2 + 5 + 1 + 3
PACKAGES = ("mlflow-tracing", "openai", "opentelemetry-exporter-otlp-proto-http")


class Receiver:
    """An OTLP/HTTP trace endpoint on 127.0.0.1 keeping every request, merged into one."""

    def __init__(self) -> None:
        self.request = ExportTraceServiceRequest()
        received = self.request

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # name fixed by http.server
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                part = ExportTraceServiceRequest()
                part.ParseFromString(body)
                received.resource_spans.extend(part.resource_spans)
                count(part)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.spans = 0
        counted = self

        def count(part: ExportTraceServiceRequest) -> None:
            counted.spans += sum(
                len(scope.spans) for rs in part.resource_spans for scope in rs.scope_spans
            )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def wait_for(self, spans: int) -> None:
        """Until ``spans`` spans arrived (MLflow's batch processor sends them late)."""
        deadline = time.monotonic() + FLUSH_DEADLINE_S
        while self.spans < spans:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.spans} of {spans} spans were exported")
            time.sleep(0.1)


def main(mode: str, out: Path) -> None:
    receiver = Receiver()
    os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = receiver.endpoint
    os.environ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"
    os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "200"  # milliseconds
    if mode == "semconv":
        os.environ["MLFLOW_ENABLE_OTEL_GENAI_SEMCONV"] = "true"
    import mlflow
    from openai import OpenAI

    mlflow.openai.autolog()
    expected: dict[str, Any] = {"versions": {p: version(p) for p in PACKAGES}}
    with ScriptedLLM() as llm:
        client = OpenAI(base_url=llm.base_url, api_key="none", max_retries=0)
        tools = S.Tools()
        get_weather = mlflow.trace(span_type="TOOL")(tools.get_weather)
        to_fahrenheit = mlflow.trace(span_type="TOOL")(tools.to_fahrenheit)
        traced = {"get_weather": get_weather, "to_fahrenheit": to_fahrenheit}

        @mlflow.trace(name="weather_agent", span_type="AGENT")
        def weather_agent(task: str) -> str | None:
            messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
            for _ in range(6):
                response = client.chat.completions.create(
                    model=MODEL, messages=messages, tools=hand_loop.TOOL_SCHEMAS
                )
                message = response.choices[0].message
                if not message.tool_calls:
                    return message.content
                messages.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls:
                    name, args = call.function.name, json.loads(call.function.arguments)
                    try:
                        result, failed = json.dumps(traced[name](**args)), False
                    except Exception as exc:  # noqa: BLE001 - the model is told
                        result, failed = f"error: {exc}", True
                    calls.append({"name": name, "args": args, "result": result, "error": failed})
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            return None

        marker = f"[mlflow-{mode}]"
        task, failing = S.script(llm, marker)
        calls: list[dict[str, Any]] = []
        expected["success"] = {"task": task, "answer": weather_agent(task), "tools": calls}
        expected["success"]["model_calls"] = len(llm.requests_for(f"{marker} "))
        calls = []
        try:
            weather_agent(failing)
            expected["fails"] = {"task": failing, "raised": None}
        except Exception as exc:  # noqa: BLE001 - what the caller saw is the expectation
            expected["fails"] = {"task": failing, "raised": f"{type(exc).__name__}: {exc}"}

        # ``@mlflow.trace`` with no type around one call, a traced helper inside it.
        @mlflow.trace
        def prompt_for(question: str) -> list[dict[str, str]]:
            return [{"role": "user", "content": question}]

        @mlflow.trace
        def ask(question: str) -> str | None:
            response = client.chat.completions.create(model=MODEL, messages=prompt_for(question))
            return response.choices[0].message.content

        plain_task = f"[mlflow-{mode}-plain] Name a sunny city."
        llm.script(plain_task, [answer("Paris.", input_tokens=20, output_tokens=3)])
        expected["plain"] = {"task": plain_task, "answer": ask(plain_task)}
        lone_task = f"[mlflow-{mode}-lone] Say hello."
        llm.script(lone_task, [answer("Hello!", input_tokens=7, output_tokens=2)])
        lone = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": lone_task}]
        )
        expected["lone"] = {"task": lone_task, "answer": lone.choices[0].message.content}
        receiver.wait_for(_SPANS + len(expected["success"]["tools"]))
    (out / f"mlflow_{mode}.otlp").write_bytes(receiver.request.SerializeToString())
    (out / f"mlflow_{mode}.expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    receiver.server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else HERE)
