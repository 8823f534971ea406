"""Run the OpenAI Agents SDK for JavaScript agent (openai_agents_js/agent.cjs) against the
scripted model's Responses API and write the spans OpenInference's OpenAI Agents JS
instrumentation sent, as one OTLP protobuf request, plus what each ``run`` returned.

    (cd DIR && npm install @openai/agents @arizeai/openinference-instrumentation-openai-agents \\
        zod @opentelemetry/api@1.9.1 @opentelemetry/sdk-trace-base@2 \\
        @opentelemetry/context-async-hooks@2 @opentelemetry/exporter-trace-otlp-proto@0.223)
    python -m tests.frameworks.captured.capture_openai_agents_js DIR/node_modules [OUT]

The versions used are written into the expectations file.
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
    "@openai/agents",
    "@openai/agents-core",
    "@openai/agents-openai",
    "openai",
    "@arizeai/openinference-instrumentation-openai-agents",
)
PARENT_TASK = "[oajs-parent] Ask the converter for 18C."
CHILD_TASK = "[oajs-child] 18C in F?"
LIMIT_TASK = "[oajs-limit] What is the weather in Paris? Keep checking."
MAX_TURNS = 2


def main(node_modules: Path, out: Path) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    versions = {
        p: json.loads((node_modules / p / "package.json").read_text())["version"] for p in PACKAGES
    }
    with ScriptedLLM() as llm, tempfile.TemporaryDirectory() as work:
        tasks = S.script(llm, "[oajs]")
        llm.script(PARENT_TASK, [call_tool("ask_converter", {"input": CHILD_TASK}),
                                 answer("The converter says 64.4F.")])  # fmt: skip
        llm.script(CHILD_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F")])
        llm.script(LIMIT_TASK, [], then_repeat=call_tool("get_weather", {"city": "Paris"}))
        script = Path(work) / "agent.cjs"
        shutil.copy(HERE / "openai_agents_js" / "agent.cjs", script)
        os.symlink(node_modules.resolve(), Path(work) / "node_modules")
        env = dict(
            os.environ,
            SCRIPTED_BASE_URL=llm.base_url,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{receiver.server_port}/v1/traces",
        )
        done = subprocess.run(
            ["node", str(script), json.dumps([*tasks, PARENT_TASK, LIMIT_TASK])],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"the agent failed:\n{done.stderr}")
        served = {
            "success": len(llm.requests_for(tasks[0])),
            "limit": len(llm.requests_for(LIMIT_TASK)),
        }
    receiver.shutdown()
    merged = ExportTraceServiceRequest()
    for body in _Receiver.bodies:
        part = ExportTraceServiceRequest()
        part.ParseFromString(body)
        merged.resource_spans.extend(part.resource_spans)
    expected = {"versions": versions, **json.loads(done.stdout.strip().splitlines()[-1])}
    expected["success"]["model_calls_served"] = served["success"]
    expected["sub_agent"]["sub_task"] = CHILD_TASK
    expected["limit"].update(max_turns=MAX_TURNS, model_calls_served=served["limit"])
    (out / "openai_agents_js.otlp").write_bytes(merged.SerializeToString())
    (out / "openai_agents_js.expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else HERE)
