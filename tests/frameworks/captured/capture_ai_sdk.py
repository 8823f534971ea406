"""Run the Vercel AI SDK agent (ai_sdk/agent.mjs) against the scripted model and write the
spans it exported, as one OTLP protobuf request, plus what ``generateText`` returned.

    (cd DIR && npm install ai @ai-sdk/openai-compatible zod @opentelemetry/api \\
        @opentelemetry/sdk-trace-base @opentelemetry/exporter-trace-otlp-proto \\
        @opentelemetry/context-async-hooks)
    python -m tests.frameworks.captured.capture_ai_sdk DIR/node_modules

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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.frameworks.captured import agent_scenario as S
from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent
PACKAGES = (
    "ai",
    "@ai-sdk/openai-compatible",
    "@opentelemetry/sdk-trace-base",
    "@opentelemetry/context-async-hooks",
)


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # name fixed by http.server
        self.bodies.append(self._body())
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _body(self) -> bytes:
        if self.headers.get("Content-Length") is not None:
            return self.rfile.read(int(self.headers["Content-Length"]))
        body = b""  # Node's exporter sends its body chunked
        while size := int(self.rfile.readline().strip() or b"0", 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return body

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass


def main(node_modules: Path) -> None:
    capture(node_modules, script="agent.mjs", name="ai_sdk")


def capture(node_modules: Path, *, script: str, name: str) -> None:
    """Run ``ai_sdk/{script}``; write ``{name}.otlp`` and ``{name}.expected.json``."""
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    versions = {
        p: json.loads((node_modules / p / "package.json").read_text())["version"] for p in PACKAGES
    }
    with ScriptedLLM() as llm, tempfile.TemporaryDirectory() as work:
        tasks = S.script(llm, "[ai-sdk]" if name == "ai_sdk" else f"[{name}]")
        copied = Path(work) / script
        shutil.copy(HERE / "ai_sdk" / script, copied)
        os.symlink(node_modules.resolve(), Path(work) / "node_modules")
        env = dict(
            os.environ,
            SCRIPTED_BASE_URL=llm.base_url,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{receiver.server_port}/v1/traces",
        )
        done = subprocess.run(
            ["node", str(copied), json.dumps(tasks)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    receiver.shutdown()
    merged = ExportTraceServiceRequest()
    for body in _Receiver.bodies:
        part = ExportTraceServiceRequest()
        part.ParseFromString(body)
        merged.resource_spans.extend(part.resource_spans)
    expected = {"versions": versions, **json.loads(done.stdout.strip().splitlines()[-1])}
    (HERE / f"{name}.otlp").write_bytes(merged.SerializeToString())
    (HERE / f"{name}.expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
