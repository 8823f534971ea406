"""Run the LangChain.js agent (langgraph_js/agent.cjs: ``createAgent``, a LangGraph.js graph)
against the scripted model and write the spans OpenInference's LangChain.js instrumentation
sent, as one OTLP protobuf request, plus what each ``agent.invoke`` returned.

    (cd DIR && npm install @langchain/langgraph @langchain/core @langchain/openai langchain \\
        @arizeai/openinference-instrumentation-langchain zod @opentelemetry/api@1.9.1 \\
        @opentelemetry/sdk-trace-base@2 @opentelemetry/context-async-hooks@2 \\
        @opentelemetry/exporter-trace-otlp-proto@0.223)
    python -m tests.frameworks.captured.capture_langgraph_js DIR/node_modules

(The exporter's 0.300 line wants ``@opentelemetry/api`` 1.10, which ``sdk-trace-base`` 2
refuses.) The versions used are written into the expectations file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.frameworks.captured import agent_scenario as S
from tests.frameworks.captured.capture_ai_sdk import _Receiver
from tests.scripted_llm import ScriptedLLM, answer, call_tool

HERE = Path(__file__).parent
PACKAGES = (
    "@langchain/langgraph",
    "@langchain/core",
    "@langchain/openai",
    "langchain",
    "@arizeai/openinference-instrumentation-langchain",
)
PARENT_TASK = "[lgjs-parent] Ask the converter for 18C."
CHILD_TASK = "[lgjs-child] 18C in F?"


def main(node_modules: Path) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    versions = {
        p: json.loads((node_modules / p / "package.json").read_text())["version"] for p in PACKAGES
    }
    with ScriptedLLM() as llm, tempfile.TemporaryDirectory() as work:
        tasks = S.script(llm, "[lgjs]")
        llm.script(PARENT_TASK, [call_tool("ask_converter", {"task": CHILD_TASK}),
                                 answer("The converter says 64.4F.")])  # fmt: skip
        llm.script(CHILD_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F")])
        script = Path(work) / "agent.cjs"
        shutil.copy(HERE / "langgraph_js" / "agent.cjs", script)
        os.symlink(node_modules.resolve(), Path(work) / "node_modules")
        env = dict(
            os.environ,
            SCRIPTED_BASE_URL=llm.base_url,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{receiver.server_port}/v1/traces",
        )
        done = subprocess.run(
            ["node", str(script), json.dumps([*tasks, PARENT_TASK])],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        calls = {"success": len(llm.requests_for(tasks[0]))}
    receiver.shutdown()
    merged = ExportTraceServiceRequest()
    for body in _Receiver.bodies:
        part = ExportTraceServiceRequest()
        part.ParseFromString(body)
        merged.resource_spans.extend(part.resource_spans)
    expected = {"versions": versions, **json.loads(done.stdout.strip().splitlines()[-1])}
    expected["success"]["model_calls_served"] = calls["success"]
    expected["sub_agent"]["sub_task"] = CHILD_TASK
    (HERE / "langgraph_js.otlp").write_bytes(merged.SerializeToString())
    (HERE / "langgraph_js.expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
