"""Run the Mastra agent (mastra/agent.mjs) against the scripted model and write the spans its
OpenTelemetry exporter sent, as one OTLP protobuf request, plus what ``agent.generate``
returned.

    (cd DIR && npm install @mastra/core @mastra/observability @mastra/otel-exporter \\
        @ai-sdk/openai-compatible zod @opentelemetry/exporter-trace-otlp-proto)
    python -m tests.frameworks.captured.capture_mastra DIR/node_modules

Mastra needs Node 22.13 or later on PATH. The versions used are written into the
expectations file.
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
    "@mastra/core",
    "@mastra/observability",
    "@mastra/otel-exporter",
    "@ai-sdk/openai-compatible",
)
STREAMED_TASK = "[mastra-stream] What is 18C in F?"


class _Traces(_Receiver):
    """Keeps the trace requests; the exporter sends its logs to /v1/logs beside them."""

    def do_POST(self) -> None:  # name fixed by http.server
        if self.path.endswith("/v1/traces"):
            super().do_POST()
            return
        self._body()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main(node_modules: Path) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Traces)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    versions = {
        p: json.loads((node_modules / p / "package.json").read_text())["version"] for p in PACKAGES
    }
    with ScriptedLLM() as llm, tempfile.TemporaryDirectory() as work:
        tasks = S.script(llm, "[mastra]")
        llm.script(STREAMED_TASK, [call_tool("to_fahrenheit", {"celsius": 18}), answer("64.4F.")])
        script = Path(work) / "agent.mjs"
        shutil.copy(HERE / "mastra" / "agent.mjs", script)
        os.symlink(node_modules.resolve(), Path(work) / "node_modules")
        env = dict(
            os.environ,
            SCRIPTED_BASE_URL=llm.base_url,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{receiver.server_port}/v1/traces",
        )
        done = subprocess.run(
            ["node", str(script), json.dumps([*tasks, STREAMED_TASK])],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        calls = {"success": len(llm.requests_for(tasks[0])),
                 "streamed": len(llm.requests_for(STREAMED_TASK))}  # fmt: skip
    receiver.shutdown()
    merged = ExportTraceServiceRequest()
    for body in _Traces.bodies:
        part = ExportTraceServiceRequest()
        part.ParseFromString(body)
        merged.resource_spans.extend(part.resource_spans)
    returned = json.loads(done.stdout.strip().splitlines()[-1])
    for key, count in calls.items():
        returned[key]["model_requests"] = count
    expected = {"versions": versions, **returned}
    (HERE / "mastra.otlp").write_bytes(merged.SerializeToString())
    (HERE / "mastra.expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
