"""The runner part of the Node.js capture scripts (capture_ai_sdk.py, capture_mastra.py,
capture_langgraph_js.py): an OTLP/HTTP receiver on 127.0.0.1, the agent script run by
``node`` beside the installed packages, and the capture written next to this module.

The script runs from a copy of its folder, beside a copy of ``node_shared/`` (the modules
the drivers share: the scripted model, the weather tools, the edge shapes), so its relative
imports (``./tracing.mjs``, ``../node_shared/...``) resolve as they do in this tree.

Each agent script takes the tasks as JSON in its first argument, reads the scripted
model's address from ``SCRIPTED_BASE_URL`` and the receiver's from
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, and prints what its calls returned as JSON on
its last line of output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.scripted_llm import ScriptedLLM

HERE = Path(__file__).parent
NODE_TIMEOUT_S = 120
_SHARED = "node_shared"


class _TraceHandler(BaseHTTPRequestHandler):
    """Keeps the bodies POSTed to ``/v1/traces``; answers anything else (an exporter's
    logs, say) with an empty 200."""

    server: _TraceServer

    def do_POST(self) -> None:  # name fixed by http.server
        body = self._body()
        if self.path.endswith("/v1/traces"):
            self.server.bodies.append(body)
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


class _TraceServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TraceHandler)
        self.bodies: list[bytes] = []


def package_versions(node_modules: Path, packages: Iterable[str]) -> dict[str, str]:
    """Each installed package's version, from its package.json."""
    return {
        name: json.loads((node_modules / name / "package.json").read_text())["version"]
        for name in packages
    }


def run_node_agent(
    node_modules: Path,
    script: Path,
    tasks: Sequence[str],
    llm: ScriptedLLM,
    extra_args: Sequence[str] = (),
) -> tuple[dict[str, Any], ExportTraceServiceRequest]:
    """Run ``script`` with ``node`` on ``tasks`` (then ``extra_args``) against ``llm``: what
    it printed last (JSON), and every trace request it exported, merged into one."""
    receiver = _TraceServer()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as work:
            copied = Path(work) / script.parent.name / script.name
            local = shutil.ignore_patterns("node_modules")  # packages come by the link below
            shutil.copytree(script.parent, copied.parent, ignore=local)
            shutil.copytree(HERE / _SHARED, Path(work) / _SHARED)
            os.symlink(node_modules.resolve(), Path(work) / "node_modules")
            traces = f"http://127.0.0.1:{receiver.server_port}/v1/traces"
            done = subprocess.run(
                ["node", str(copied), json.dumps(list(tasks)), *extra_args],
                env={
                    **os.environ,
                    "SCRIPTED_BASE_URL": llm.base_url,
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces,
                },
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT_S,
                check=True,
            )
    finally:
        receiver.shutdown()
        receiver.server_close()
    merged = ExportTraceServiceRequest()
    for body in receiver.bodies:
        part = ExportTraceServiceRequest()
        part.ParseFromString(body)
        merged.resource_spans.extend(part.resource_spans)
    return json.loads(done.stdout.strip().splitlines()[-1]), merged


def write_capture(name: str, request: ExportTraceServiceRequest, expected: dict[str, Any]) -> None:
    """``{name}.otlp`` and ``{name}.expected.json`` beside this module."""
    (HERE / f"{name}.otlp").write_bytes(request.SerializeToString())
    (HERE / f"{name}.expected.json").write_text(json.dumps(expected, indent=2) + "\n")
